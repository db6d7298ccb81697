"""Tenant pages: home redirect, dashboard, settings."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.core.errors import DomainError
from app.core.htmx import is_htmx
from app.core.models import Role
from app.core.ui import (
    DashboardCard,
    NavItem,
    SettingsSection,
    dashboard_cards,
    register_card,
    register_nav,
    register_settings_section,
    settings_sections,
)
from app.core.web import memberships_of, request_meta
from app.permissions.catalogue import declare
from app.permissions.gate import can, require
from app.tenants import bp
from app.tenants.forms import GeneralSettingsForm
from app.tenants.services import member_counts, update_settings, valid_timezones


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
    """Send a signed-in user to their first tenant."""
    memberships = memberships_of(current_user)
    if not memberships:
        return render_template("tenants/no_tenant.html")
    return redirect(url_for("tenants.dashboard", slug=memberships[0].tenant.slug))


@bp.get("/t/<slug>/")
@login_required
def dashboard(slug: str):
    """The tenant's dashboard: one card per capability."""
    cards = [(card, card.context(g.tenant)) for card in dashboard_cards(can)]
    return render_template("tenants/dashboard.html", cards=cards)


@bp.get("/t/<slug>/settings")
@login_required
@require("settings.manage")
def settings(slug: str):
    """Tenant settings: one section per capability."""
    sections = [(s, s.context(g.tenant)) for s in settings_sections(can)]
    return render_template("tenants/settings.html", sections=sections)


@bp.post("/t/<slug>/settings/general")
@login_required
@require("settings.manage")
def update_general(slug: str):
    """Save name, time zone and default language."""
    form = _general_form(g.tenant)
    if form.validate():
        try:
            changes = update_settings(g.tenant, name=form.name.data, timezone=form.timezone.data,
                                      default_locale=form.default_locale.data, actor_id=current_user.id,
                                      **request_meta())
        except DomainError as exc:
            field = getattr(form, exc.field or "", None)
            (field.errors if field is not None else form.form_errors).append(exc.detail)
            status = exc.status
        else:
            message = _("Settings saved.") if changes else _("Nothing changed.")
            if not is_htmx():
                flash(message, "success")
                return redirect(url_for("tenants.settings", slug=slug))
            return render_template("tenants/_settings_general.html", form=form, saved=message)
    else:
        status = 422
    if is_htmx():
        return render_template("tenants/_settings_general.html", form=form), status
    sections = [(s, s.context(g.tenant)) for s in settings_sections(can)]
    sections = [(s, {"form": form} if s.key == "general" else ctx) for s, ctx in sections]
    return render_template("tenants/settings.html", sections=sections), status
