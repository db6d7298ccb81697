"""What invites add to the shared pages: the navigation entry, the dashboard card (pending invites, joins of
the week, the viewer's invites left today) and the "Invites" section of tenant settings (the lifetime and the
daily limit per person), with the route that saves it."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.ui import (
    DashboardCard,
    NavItem,
    SettingsSection,
    register_card,
    register_nav,
    register_settings_section,
    save_section,
)
from app.core.web import current_actor
from app.invites import bp, overview
from app.invites.forms import InviteSettingsForm
from app.permissions.gate import require

SECTION = "invites/_settings.html"


def _settings_form(tenant, **kwargs) -> InviteSettingsForm:
    return InviteSettingsForm(data={"invite_ttl_hours": tenant.invite_ttl_hours,
                                    "invite_max_ttl_hours": tenant.invite_max_ttl_hours,
                                    "invite_daily_limit": tenant.invite_daily_limit}, prefix="invites", **kwargs)


def _card_context(tenant) -> dict:
    return {"summary": overview.summary(tenant, current_user.id, utcnow()), "unlimited": current_user.is_operator}


register_nav(NavItem("invites", _l("Invites"), "invites.page", 320, permission="invites.view"))
register_card(DashboardCard("invites", "invites/_card.html", 30, context=_card_context, permission="invites.view"))
register_settings_section(SettingsSection("invites", _l("Invites"), SECTION, 38,
                                          context=lambda tenant: {"form": _settings_form(tenant, formdata=None)},
                                          permission="settings.manage"))


@bp.post("/t/<slug>/settings/invites")
@login_required
@require("settings.manage")
def update_settings(slug: str):
    """Save how long a new invite lasts here, the longest one may ask for, and how many one person may make a day."""
    tenant = state.tenant
    return save_section(
        "invites", _settings_form(tenant),
        lambda form: overview.update_invite_settings(current_actor(), tenant, ttl_hours=form.invite_ttl_hours.data,
                                                     max_ttl_hours=form.invite_max_ttl_hours.data,
                                                     daily_limit=form.invite_daily_limit.data),
        tenant=tenant, message=lambda _tenant: _("Invite settings saved. Invites already made keep their expiry."),
    )
