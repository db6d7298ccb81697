"""What tokens add to the shared pages: the navigation entry, the dashboard card, and the token policy
section of tenant settings (with the route that saves it)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

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
from app.permissions.gate import can, require
from app.tokens import bp, services
from app.tokens.forms import TokenPolicyForm

SECTION = "tokens/_settings_policy.html"


def _policy_form(tenant, **kwargs) -> TokenPolicyForm:
    return TokenPolicyForm(obj=services.token_policy(tenant.id), prefix="policy", **kwargs)


def _card_context(tenant) -> dict:
    """The viewer's own tokens; with tokens.manage, the tenant's too."""
    return {"mine": services.token_summary(tenant, owner_id=current_user.id),
            "everyone": services.token_summary(tenant) if can("tokens.manage") else None}


register_nav(NavItem("tokens", _l("API tokens"), "tokens.page", 400, permission="tokens.view"))
register_card(DashboardCard("tokens", "tokens/_card.html", 40, context=_card_context, permission="tokens.view"))
register_settings_section(SettingsSection("tokens", _l("API tokens"), SECTION, 40,
                                          context=lambda tenant: {"form": _policy_form(tenant, formdata=None)},
                                          permission="settings.manage"))


@bp.post("/t/<slug>/settings/tokens")
@login_required
@require("settings.manage")
def update_policy(slug: str):
    """Save the tenant's token policy: lifetimes, tokens without expiry, the rotation grace period."""
    tenant = state.tenant
    return save_section(
        "tokens", _policy_form(tenant),
        lambda form: services.update_token_policy(
            current_actor(), tenant, default_days=form.default_days.data, max_days=form.max_days.data,
            allow_no_expiry=bool(form.allow_no_expiry.data), rotation_grace_minutes=form.rotation_grace_minutes.data,
        ),
        tenant=tenant, message=lambda _policy: _("Token policy saved. It applies to tokens created and rotated from "
                                                 "now on."),
    )
