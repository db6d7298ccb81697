"""Tenant pages: home redirect, dashboard, settings."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.core.request_state import state
from app.core.ui import (
    DashboardCard,
    NavItem,
    SettingsSection,
    dashboard_cards,
    register_card,
    register_nav,
    register_settings_section,
    render_settings,
    save_section,
)
from app.core.web import current_actor, register_template_value, register_tenant_lookup, remembered_tenant
from app.permissions.catalogue import declare
from app.permissions.gate import can, require
from app.tenants import bp
from app.tenants.forms import GeneralSettingsForm
from app.tenants.services import (
    all_tenants,
    landing_tenant,
    member_counts,
    page_tenant,
    update_settings,
    valid_timezones,
)
from app.users.models import Role


def _operator_tenants() -> list:
    # every live tenant for a platform operator; nothing for anyone else
    return all_tenants() if current_user.is_authenticated and current_user.is_operator else []


register_tenant_lookup(page_tenant)  # how /t/<slug>/ pages find their tenant
register_template_value("operator_tenants", _operator_tenants)  # the operators' tenant switcher


def _general_form(tenant, **kwargs) -> GeneralSettingsForm:
    return GeneralSettingsForm(obj=tenant, timezones=valid_timezones(), **kwargs)


declare("settings", ("manage", _l("Change tenant settings"), Role.ADMIN))
register_nav(NavItem("dashboard", _l("Dashboard"), "tenants.dashboard", 0))
register_nav(NavItem("settings", _l("Settings"), "tenants.settings", 1000, permission="settings.manage"))
register_card(DashboardCard("members", "tenants/_card_members.html", 10,
                            context=lambda tenant: {"counts": member_counts(tenant.id)}))
register_settings_section(SettingsSection("general", _l("General"), "tenants/_settings_general.html", 0,
                                          context=lambda tenant: {"form": _general_form(tenant, formdata=None)},
                                          permission="settings.manage"))


@bp.get("/")
@login_required
def home():
    """Send a signed-in user to the tenant they last used, else the one they own (`landing_tenant`). The session
    check already found the session's current tenant, when the person is still a member there: no query here."""
    if state.session_tenant_slug:
        return redirect(url_for("tenants.dashboard", slug=state.session_tenant_slug))
    tenant = landing_tenant(current_user, remembered_tenant())
    if tenant is None:
        return render_template("tenants/no_tenant.html")
    return redirect(url_for("tenants.dashboard", slug=tenant.slug))


@bp.get("/t/<slug>/")
@login_required
@require("dashboard.view")
def dashboard(slug: str):
    """The tenant's dashboard: one card per capability."""
    cards = [(card, card.context(state.tenant)) for card in dashboard_cards(can)]
    return render_template("tenants/dashboard.html", cards=cards)


@bp.get("/t/<slug>/settings")
@login_required
@require("settings.manage")
def settings(slug: str):
    """Tenant settings: one section per capability."""
    return render_settings(state.tenant)


@bp.post("/t/<slug>/settings/general")
@login_required
@require("settings.manage")
def update_general(slug: str):
    """Save name, time zone and default language."""
    tenant = state.tenant
    return save_section(
        "general", _general_form(tenant),
        lambda form: update_settings(current_actor(), tenant, name=form.name.data, timezone=form.timezone.data,
                                     default_locale=form.default_locale.data),
        tenant=tenant, message=lambda changes: _("Settings saved.") if changes else _("Nothing changed."),
    )
