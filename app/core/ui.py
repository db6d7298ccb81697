"""What each capability adds to the shared pages: navigation entries, dashboard cards, settings sections.

Domains register at import time next to their blueprint; the registries are keyed, so importing
twice (several apps in one test process) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Visible = Callable[[Any], bool]  # receives the current Membership


def _always(_membership) -> bool:
    return True


@dataclass(frozen=True)
class NavItem:
    """A link in the tenant navigation."""

    key: str
    label: Any  # lazy string
    endpoint: str
    order: int
    visible: Visible = _always


@dataclass(frozen=True)
class DashboardCard:
    """A card on the tenant dashboard: a template and a function giving its context."""

    key: str
    template: str
    order: int
    context: Callable[..., dict] = field(default=lambda tenant, membership: {})
    visible: Visible = _always


@dataclass(frozen=True)
class SettingsSection:
    """A section of tenant settings: a template (with its own form) and a function giving its context."""

    key: str
    title: Any  # lazy string
    template: str
    order: int
    context: Callable[..., dict] = field(default=lambda tenant, membership: {})
    visible: Visible = _always


_NAV: dict[str, NavItem] = {}
_CARDS: dict[str, DashboardCard] = {}
_SECTIONS: dict[str, SettingsSection] = {}


def register_nav(item: NavItem) -> None:
    _NAV[item.key] = item


def register_card(card: DashboardCard) -> None:
    _CARDS[card.key] = card


def register_settings_section(section: SettingsSection) -> None:
    _SECTIONS[section.key] = section


def nav_items(membership) -> list[NavItem]:
    """Navigation entries this member may see, in order."""
    return sorted((i for i in _NAV.values() if i.visible(membership)), key=lambda i: i.order)


def dashboard_cards(membership) -> list[DashboardCard]:
    return sorted((c for c in _CARDS.values() if c.visible(membership)), key=lambda c: c.order)


def settings_sections(membership) -> list[SettingsSection]:
    return sorted((s for s in _SECTIONS.values() if s.visible(membership)), key=lambda s: s.order)
