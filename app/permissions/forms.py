"""Permission forms: add a rule, check what a member may do."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.fieldadapters import form_check, validated
from app.core.fields import check_local_datetime, check_reason
from app.core.forms import GuardedForm
from app.core.inputs import parse_id
from app.permissions import catalogue
from app.permissions.models import Effect

# The services check every value against the catalogue and the tenant's members, with messages that say
# what is wrong; the selects only offer the valid ones (validate_choice=False leaves the refusal to them).


def member_choices(members) -> list[SelectChoice]:
    """One choice per member: `(user, membership)` pairs as app.users.services.members() returns them."""
    return [SelectChoice(str(user.id), f"{user.email} ({membership.role.label})") for user, membership in members]


def target_choices() -> list[SelectChoice]:
    """Every `module.*` and `module.action` of the catalogue, grouped by module."""
    choices = []
    for module in catalogue.modules():
        choices.append(SelectChoice(f"{module}.*", str(_l("%(module)s: every action", module=module)),
                                    optgroup=module))
        choices.extend(SelectChoice(a.key, f"{a.key} — {a.label}", optgroup=module)
                       for a in catalogue.actions() if a.module == module)
    return choices


def action_choices() -> list[SelectChoice]:
    """Every `module.action` of the catalogue, grouped by module."""
    return [SelectChoice(a.key, f"{a.key} — {a.label}", optgroup=a.module) for a in catalogue.actions()]


def _member_id(form, field) -> None:
    """A member is chosen by id: digits that fit the id column (membership itself is the service's check)."""
    if parse_id(field.data) is None:
        raise ValidationError(_l("Choose a member of this tenant."))


def _with_blank(choices: list[SelectChoice], label) -> list[SelectChoice]:
    return [SelectChoice("", str(label)), *choices]


class RuleForm(GuardedForm):
    """Allow or deny one member a module or an action, optionally on one resource, until a time."""

    user_id = SelectField(_l("Member"), validators=[DataRequired(), _member_id], validate_choice=False)
    effect = SelectField(_l("Effect"), validators=[DataRequired()], validate_choice=False,
                         choices=[SelectChoice(Effect.DENY.value, _l("Deny")),
                                  SelectChoice(Effect.ALLOW.value, _l("Allow"))])
    target = SelectField(_l("Permission"), validators=[DataRequired()], validate_choice=False)
    resource = StringField(_l("Resource (optional)"), validators=[Optional(), Length(max=100)])
    expires_at = DateTimeLocalField(_l("Expires (optional)"), validators=[Optional()],
                                    format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), form_check(check_reason)],
                           render_kw={"rows": 2, "maxlength": 500})
    # Shown to platform operators only; sent by anyone else, the service refuses "global".
    scope = SelectField(_l("Scope"), default="tenant", validate_choice=False,
                        choices=[SelectChoice("tenant", _l("This tenant")),
                                 SelectChoice("global", _l("Every tenant (global)"))])

    def __init__(self, *args, members, timezone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_id.choices = _with_blank(member_choices(members), _l("Choose a member"))
        self.target.choices = _with_blank(target_choices(), _l("Choose a permission"))
        self.timezone = timezone

    def validate_expires_at(self, field) -> None:
        """With the tenant's time zone given, the expiry is checked with the other fields (the one date check), so
        a refused date is said together with every other refusal."""
        if self.timezone is not None and field.data is not None:
            form_check(check_local_datetime, self.timezone, normalise=False)(self, field)

    def expires_at_utc(self, timezone: str) -> datetime | None:
        """The expiry typed in the tenant's time zone, in UTC (None when left empty), through the one date check
        (app.core.fields): a date it refuses is a ValidationFailed on `expires_at`, as the service's would be."""
        return validated("expires_at", check_local_datetime, self.expires_at.data, timezone, optional=True)


class CheckForm(FlaskForm):
    """Ask the resolver about one member, one action and optionally one resource (read only: no CSRF)."""

    class Meta:
        csrf = False

    user_id = SelectField(_l("Member"), validators=[DataRequired(), _member_id], validate_choice=False)
    action = SelectField(_l("Action"), validators=[DataRequired()], validate_choice=False)
    resource = StringField(_l("Resource (optional)"), validators=[Optional(), Length(max=100)])

    def __init__(self, *args, members, **kwargs):
        kwargs.setdefault("prefix", "check")
        super().__init__(*args, **kwargs)
        self.user_id.choices = _with_blank(member_choices(members), _l("Choose a member"))
        self.action.choices = _with_blank(action_choices(), _l("Choose an action"))
