"""Member administration forms: an action on one member, a new role, an action on a selection."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Optional

from app.core.fieldadapters import form_check
from app.core.fields import check_display_name, check_locale, check_password, check_time_zone
from app.core.forms import GuardedForm
from app.core.i18n import LOCALES
from app.users.admin import check_action
from app.users.models import Role, check_role


class MemberActionForm(GuardedForm):
    """Block, unblock, unlock, remove, restore or sign out everywhere: nothing to type, a confirmed POST."""


class RoleForm(GuardedForm):
    """A member's new role (the one role check; the ceiling is the service's)."""

    role = SelectField(_l("Role"), validators=[DataRequired(), form_check(check_role)], validate_choice=False,
                       choices=[SelectChoice(role.value, role.label) for role in Role])


class BulkForm(GuardedForm):
    """One action on the selected members (their ids in `user_id`, repeated)."""

    bulk_action = HiddenField(_l("Action"), validators=[DataRequired(), form_check(check_action)])


class ProfileForm(GuardedForm):
    """One's name, language and time zone (the same checks as everywhere)."""

    name = StringField(_l("Name"), validators=[DataRequired(), form_check(check_display_name)],
                       render_kw={"maxlength": 120, "autocomplete": "name"})
    locale = SelectField(_l("Language"),
                         choices=[SelectChoice("", _l("The organization's language")),
                                  *(SelectChoice(code, label) for code, label in LOCALES.items())],
                         validators=[Optional(), form_check(check_locale)], validate_choice=False)
    timezone = StringField(_l("Time zone"), validators=[Optional(), form_check(check_time_zone)],
                           render_kw={"list": "account-timezones", "autocomplete": "off", "spellcheck": "false",
                                      "autocapitalize": "none", "maxlength": 64})


class PasswordForm(GuardedForm):
    """A new password: the current one first, the new one twice."""

    current = PasswordField(_l("Current password"), validators=[DataRequired()],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField(_l("New password"), validators=[DataRequired(), form_check(check_password, normalise=False)],
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})
    end_others = BooleanField(_l("Sign out every other browser"), default=True)
