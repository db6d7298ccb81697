"""The tenant settings section "Sign-in protection": a tenant may lock its members' accounts after fewer failed
sign-ins than the platform does, never after more. Its own blueprint: the auth blueprint lives under /auth, this
view under the tenant's /t/<slug>/settings."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import Optional

from app.auth.services import check_lock_after, update_signin_settings
from app.core.fieldadapters import form_check
from app.core.forms import GuardedForm
from app.core.request_state import state
from app.core.ui import SettingsSection, register_settings_section, save_section
from app.core.web import current_actor
from app.permissions.gate import require

SECTION = "auth/_settings_signin.html"
bp = Blueprint("auth_settings", __name__)


class SignInSettingsForm(GuardedForm):
    """The tenant's lock threshold; empty follows the platform."""

    lock_after = IntegerField(_l("Lock after this many failed sign-ins"), validators=[Optional()])

    def __init__(self, *args, platform_after: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.platform_after = platform_after
        self.lock_after.validators = [Optional(), form_check(check_lock_after, platform_after)]


def _platform_after() -> int:
    return current_app.config["LOGIN_LOCK_AFTER"]


def _form(tenant, **kwargs) -> SignInSettingsForm:
    return SignInSettingsForm(data={"lock_after": tenant.lock_after_failures}, platform_after=_platform_after(),
                              **kwargs)


register_settings_section(SettingsSection("signin", _l("Sign-in protection"), SECTION, 30,
                                          context=lambda tenant: {"form": _form(tenant, formdata=None)},
                                          permission="settings.manage"))


@bp.post("/t/<slug>/settings/sign-in")
@require("settings.manage")
def update_signin(slug: str):
    """Save the tenant's lock threshold."""
    tenant = state.tenant
    form = SignInSettingsForm(platform_after=_platform_after())
    return save_section(
        "signin", form,
        lambda bound: update_signin_settings(current_actor(), tenant, lock_after=bound.lock_after.data,
                                             platform_after=_platform_after()),
        tenant=tenant, message=lambda changed: _("Sign-in protection saved.") if changed else _("Nothing changed."),
    )
