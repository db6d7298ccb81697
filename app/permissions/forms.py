"""Permission forms: add a rule, change one, remove one, check what a member may do."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.fieldadapters import form_check, validated
from app.core.fields import check_expiry, check_local_datetime, check_reason
from app.core.forms import GuardedForm
from app.core.inputs import parse_id
from app.permissions import catalogue
from app.permissions.checks import check_action, check_effect, check_resource, check_scope, check_target
from app.permissions.models import Effect

# Every field is checked by the form with the check the service runs (app/permissions/checks.py, app.core.fields),
# so a form sent with several mistakes hears of all of them at once; the service checks again (the API and the
# commands come in there) and adds what depends on the state of things (membership, the ceiling). The selects
# offer only valid values; validate_choice=False leaves the verdict, and its message, to those checks.


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


def check_local_expiry(value: datetime, time_zone: str) -> datetime:
    """An expiry typed in `time_zone` (a datetime-local), in UTC: a date the application stores (the one date
    check), in the future (the one expiry check)."""
    return check_expiry(check_local_datetime(value, time_zone))


def _expiry_field() -> DateTimeLocalField:
    # one per form class, declared where it shows (fields are listed, and their errors summed up, in that order)
    return DateTimeLocalField(_l("Expires (optional)"), validators=[Optional()],
                              format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])


class _ExpiryForm(GuardedForm):
    """The optional expiry of a rule (an `expires_at` field), typed in the tenant's time zone."""

    #: the tenant's time zone; None: the expiry is checked by expires_at_utc only (the date, not the future)
    timezone: str | None = None
    #: the stored expiry as the form shows it (the tenant's wall clock, to the minute): sent back unchanged, it is
    #: kept as it is, even when past
    stored_expiry: datetime | None = None

    def validate_expires_at(self, field) -> None:
        """With the tenant's time zone given, the expiry is checked with the other fields, so a refused date (too
        far, or past) is said together with every other refusal."""
        if self.timezone is None or field.data is None:
            return
        if self.stored_expiry is not None and field.data.replace(second=0) == self.stored_expiry:
            return
        form_check(check_local_expiry, self.timezone, normalise=False)(self, field)

    def expires_at_utc(self, timezone: str) -> datetime | None:
        """The expiry typed in the tenant's time zone, in UTC (None when left empty), through the one date check
        (app.core.fields): a date it refuses is a ValidationFailed on `expires_at`, as the service's would be."""
        return validated("expires_at", check_local_datetime, self.expires_at.data, timezone, optional=True)


class RuleForm(_ExpiryForm):
    """Allow or deny one member a module or an action, optionally on one resource, until a time."""

    user_id = SelectField(_l("Member"), validators=[DataRequired(), _member_id], validate_choice=False)
    effect = SelectField(_l("Effect"), validators=[DataRequired(), form_check(check_effect)], validate_choice=False,
                         choices=[SelectChoice(Effect.DENY.value, _l("Deny")),
                                  SelectChoice(Effect.ALLOW.value, _l("Allow"))])
    target = SelectField(_l("Permission"), validators=[DataRequired(), form_check(check_target)],
                         validate_choice=False)
    resource = StringField(_l("Resource (optional)"),
                           validators=[Optional(), Length(max=100), form_check(check_resource, normalise=False)])
    expires_at = _expiry_field()
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), form_check(check_reason)],
                           render_kw={"rows": 2, "maxlength": 500})
    # Shown to platform operators only; sent by anyone else, the service refuses "global".
    scope = SelectField(_l("Scope"), default="tenant", validate_choice=False,
                        validators=[form_check(check_scope)],
                        choices=[SelectChoice("tenant", _l("This tenant")),
                                 SelectChoice("global", _l("Every tenant (global)"))])

    def __init__(self, *args, members, timezone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_id.choices = _with_blank(member_choices(members), _l("Choose a member"))
        self.target.choices = _with_blank(target_choices(), _l("Choose a permission"))
        self.timezone = timezone


class EditRuleForm(_ExpiryForm):
    """Change a rule's reason and expiry (what it allows or denies, and to whom, is another rule)."""

    expires_at = _expiry_field()
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), form_check(check_reason)],
                           render_kw={"rows": 3, "maxlength": 500})

    def __init__(self, *args, timezone: str, stored_expiry: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone = timezone
        self.stored_expiry = stored_expiry


class RemoveRuleForm(GuardedForm):
    """The confirmation of a rule's removal: nothing to type, its one-time nonce makes a second send harmless."""


class CheckForm(FlaskForm):
    """Ask the resolver about one member, one action and optionally one resource (read only: no CSRF)."""

    class Meta:
        csrf = False

    user_id = SelectField(_l("Member"), validators=[DataRequired(), _member_id], validate_choice=False)
    action = SelectField(_l("Action"), validators=[DataRequired(), form_check(check_action)],
                         validate_choice=False)
    resource = StringField(_l("Resource (optional)"),
                           validators=[Optional(), Length(max=100), form_check(check_resource, normalise=False)])

    def __init__(self, *args, members, **kwargs):
        kwargs.setdefault("prefix", "check")
        super().__init__(*args, **kwargs)
        self.user_id.choices = _with_blank(member_choices(members), _l("Choose a member"))
        self.action.choices = _with_blank(action_choices(), _l("Choose an action"))
