"""The permission rule's own field checks, beside its model (one validator per field, DESIGN §4): the rule
forms, the "check as" form and the services run these, through the adapters of app.core.fieldadapters, so a
value gets the same verdict and the same message wherever it comes in.

Each is `check_<field>(value) -> normalised value`, raising `FieldInvalid` with the message for the person who
typed it, as the kernel's checks in app.core.fields do.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import lazy_gettext as _l

from app.core.fields import FieldInvalid
from app.permissions import catalogue
from app.permissions.models import Effect

RESOURCE_RE = re.compile(r"^([a-z_]{1,32}):([A-Za-z0-9_-]{1,64})$")
SCOPES = ("tenant", "global")

# Resource types a rule may name, with a function telling whether one exists in a tenant.
RESOURCE_TYPES: dict[str, Callable[[int, str], bool]] = {}


def check_effect(value) -> str:
    """`allow` or `deny`."""
    if value not in {e.value for e in Effect}:
        raise FieldInvalid(_l("Choose allow or deny."))
    return value


def check_target(value) -> str:
    """What a rule is about: `module.action` or `module.*`, of the catalogue."""
    text = value if isinstance(value, str) else ""
    module, _, action = text.partition(".")
    if not catalogue.is_known(module, None if action in {"", "*"} else action):
        raise FieldInvalid(_l("%(target)s is not in the catalogue.", target=text))
    return text


def check_action(value) -> str:
    """One `module.action` of the catalogue (the question of a check)."""
    if not isinstance(value, str) or catalogue.get_action(value) is None:
        raise FieldInvalid(_l("%(key)s is not in the catalogue.", key=value if isinstance(value, str) else ""))
    return value


def check_scope(value) -> str:
    """Where a rule applies: this tenant, or every tenant (global)."""
    if value not in SCOPES:
        raise FieldInvalid(_l("Choose tenant or global scope."))
    return value


def check_resource(value) -> tuple[str | None, str | None]:
    """`type:id` of a declared resource type -> (type, id); empty -> (None, None)."""
    if not value:
        return None, None
    match = RESOURCE_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise FieldInvalid(_l("Write the resource as type:id, e.g. user:42."))
    if match.group(1) not in RESOURCE_TYPES:
        raise FieldInvalid(_l("Unknown resource type %(type)s. Known: %(known)s.", type=match.group(1),
                              known=", ".join(sorted(RESOURCE_TYPES))))
    return match.group(1), match.group(2)
