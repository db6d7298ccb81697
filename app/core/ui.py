"""What each capability adds to the shared pages: navigation entries, dashboard cards, settings sections, panels
of a member's page; and the one way a settings section is shown and saved (`render_settings`, `save_section`).

Domains register at import time next to their blueprint; the registries are keyed, so importing
twice (several apps in one test process) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import render_template, url_for
from flask.typing import ResponseReturnValue

from app.core.forms import Saved, handle_form
from app.core.htmx import is_htmx, oob, render_page

Allowed = Callable[[str], bool]  # the current user's `can("module.action")`


@dataclass(frozen=True)
class NavItem:
    """A link in the tenant navigation."""

    key: str
    label: Any  # lazy string
    endpoint: str
    order: int
    permission: str | None = None  # shown only to those allowed this; None: every member


@dataclass(frozen=True)
class DashboardCard:
    """A card on the tenant dashboard: a template and a function giving its context."""

    key: str
    template: str
    order: int
    context: Callable[..., dict] = field(default=lambda tenant: {})
    permission: str | None = None  # shown only to those allowed this; None: every member


@dataclass(frozen=True)
class SettingsSection:
    """A section of tenant settings: a template (with its own form) and a function giving its context."""

    key: str
    title: Any  # lazy string
    template: str
    order: int
    context: Callable[..., dict] = field(default=lambda tenant: {})
    permission: str | None = None  # shown only to those allowed this; None: every member


@dataclass(frozen=True)
class DetailPanel:
    """A panel of a member's page (the users domain's member detail): a template and a function giving its
    context from the tenant and the member (`context(tenant, user)`), for a capability the users domain does not
    know (its package may not be imported from there)."""

    key: str
    template: str
    order: int
    context: Callable[..., dict] = field(default=lambda tenant, user: {})
    permission: str | None = None  # shown only to those allowed this; None: whoever sees the member's page


_NAV: dict[str, NavItem] = {}
_CARDS: dict[str, DashboardCard] = {}
_SECTIONS: dict[str, SettingsSection] = {}
_PANELS: dict[str, DetailPanel] = {}


def register_nav(item: NavItem) -> None:
    _NAV[item.key] = item


def register_card(card: DashboardCard) -> None:
    _CARDS[card.key] = card


def register_settings_section(section: SettingsSection) -> None:
    _SECTIONS[section.key] = section


def register_detail_panel(panel: DetailPanel) -> None:
    _PANELS[panel.key] = panel


def _visible(items, can: Allowed) -> list:
    return sorted((i for i in items if i.permission is None or can(i.permission)), key=lambda i: i.order)


def nav_items(can: Allowed) -> list[NavItem]:
    """Navigation entries the current user may open, in order."""
    return _visible(_NAV.values(), can)


def dashboard_cards(can: Allowed) -> list[DashboardCard]:
    """Dashboard cards the current user may see, in order."""
    return _visible(_CARDS.values(), can)


def settings_sections(can: Allowed) -> list[SettingsSection]:
    """Settings sections the current user may change, in order."""
    return _visible(_SECTIONS.values(), can)


def detail_panels(can: Allowed) -> list[DetailPanel]:
    """Panels of a member's page the current user may see, in order."""
    return _visible(_PANELS.values(), can)


# The settings page belongs to the tenants domain; the kernel knows it by name only.
SETTINGS_TEMPLATE = "tenants/settings.html"
SETTINGS_ENDPOINT = "tenants.settings"


_PERMISSION_CHECK: list[Callable[..., bool]] = []


def register_permission_check(check: Callable[..., bool]) -> None:
    """Set the check navigation, cards, sections and templates use: `can("module.action")` for the current person
    here (the permissions domain's gate registers it)."""
    _PERMISSION_CHECK[:] = [check]


def can(key: str, resource: str | None = None) -> bool:
    """The registered permission check (False when none is registered)."""
    return _PERMISSION_CHECK[0](key, resource) if _PERMISSION_CHECK else False


def render_settings(tenant, *, key: str | None = None, form=None) -> str:
    """The settings page: every section the person may change, each with its context; section `key` shows
    `form` instead of a fresh one (the bound form with its errors)."""
    sections = [(s, {"form": form} if s.key == key else s.context(tenant)) for s in settings_sections(can)]
    return render_template(SETTINGS_TEMPLATE, sections=sections)


def topbar() -> str:
    """The page's top bar (base.html's `topbar` block), out of band, for an htmx answer after a change it shows
    (a setting such as the tenant's name): the bar says the new value at once, as a reloaded page would."""
    return oob("topbar", render_page("base.html", "topbar"))


def save_section(key: str, form, run: Callable, *, tenant, message: Callable[[Any], str]) -> ResponseReturnValue:
    """Save settings section `key` from its bound `form` through the form helper (app.core.forms): `run(form)`
    calls the service. htmx gets the section back (with `message(result)` once saved, or with its errors); a
    browser without JavaScript gets the whole settings page with the section's errors, or, once saved, a
    redirect to the section with a flash message."""
    section = _SECTIONS[key]

    def render(bound) -> str:
        if is_htmx():
            return render_template(section.template, form=bound)
        return render_settings(tenant, key=key, form=bound)

    def done(result) -> Saved:
        to = url_for(SETTINGS_ENDPOINT, slug=tenant.slug) + f"#section-{key}"
        return Saved(message(result), to, htmx=lambda text: render_template(section.template, form=form, saved=text)
                     + topbar())

    return handle_form(form, run, render=render, done=done)
