"""Member administration forms: an action on one member, a new role, an action on a selection."""

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from app.core.fieldadapters import form_check
from app.core.forms import GuardedForm
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
