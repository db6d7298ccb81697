"""What each capability adds to the shared pages: navigation entries, dashboard cards, settings sections.

Domains register at import time next to their blueprint; the registries are keyed, so importing
twice (several apps in one test process) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


_NAV: dict[str, NavItem] = {}
_CARDS: dict[str, DashboardCard] = {}
_SECTIONS: dict[str, SettingsSection] = {}


def register_nav(item: NavItem) -> None:
    _NAV[item.key] = item


def register_card(card: DashboardCard) -> None:
    _CARDS[card.key] = card


def register_settings_section(section: SettingsSection) -> None:
    _SECTIONS[section.key] = section


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
