"""The catalogue of modules and actions, declared by each domain next to its blueprint, and the role defaults.

A permission is named `module.action`. Domains call `declare()` at import time; role defaults say which
actions each role has without any rule. The catalogue is also what `audit-orphan-permissions` checks rules
against.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.users.models import Role


@dataclass(frozen=True)
class Action:
    """One action of one module, with the lowest role that has it by default."""

    module: str
    name: str
    label: object  # lazy string
    default_role: Role | None  # None: no role has it by default (only rules grant it)

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"


_ACTIONS: dict[str, Action] = {}


def declare(module: str, *actions: tuple[str, object, Role | None]) -> None:
    """Declare `module`'s actions as (name, label, lowest role with it by default)."""
    for name, label, default_role in actions:
        action = Action(module, name, label, default_role)
        _ACTIONS[action.key] = action


def actions() -> list[Action]:
    """Every declared action, by module then name."""
    return sorted(_ACTIONS.values(), key=lambda a: (a.module, a.name))


def modules() -> list[str]:
    """Every declared module."""
    return sorted({a.module for a in _ACTIONS.values()})


def get_action(key: str) -> Action | None:
    return _ACTIONS.get(key)


def is_known(module: str, action: str | None = None) -> bool:
    """True when `module` (and `action`, if given) is in the catalogue."""
    if action is None:
        return module in {a.module for a in _ACTIONS.values()}
    return f"{module}.{action}" in _ACTIONS


def role_grants(role: Role, key: str) -> bool:
    """True when `role` has action `key` by default."""
    action = _ACTIONS.get(key)
    return action is not None and action.default_role is not None and role.at_least(action.default_role)
