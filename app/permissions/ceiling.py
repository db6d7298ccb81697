"""The privilege ceiling, one rule for every grant: nothing an actor creates, rotates or changes may grant more
than the actor has, and nobody acts on a person ranking above them.

Every service that creates or changes a credential, a rule, a role or a membership calls these two checks
before it writes: `check_may_act_on` (rank) and `check_may_grant` (rights). Both read the actor's and the
subject's compiled policies (cached), so they cost dictionary lookups. Platform operators stand above every
tenant role: they manage the platform (global rules, commands) and are exempt from both checks.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.actor import Actor
from app.core.errors import Forbidden
from app.permissions import catalogue
from app.permissions.resolver import load_policy

#: a person with no role in the tenant (not a member) ranks below every member
NO_RANK = 0


class OutrankedError(Forbidden):
    """The actor tried to act on a person whose role ranks above theirs."""

    code = "outranked"
    title = _l("You cannot act on someone whose role ranks above yours.")


class BeyondRightsError(Forbidden):
    """The change would grant something the actor does not have."""

    code = "beyond_your_rights"
    title = _l("You cannot grant what you do not have yourself.")


def rank(user_id: int, tenant_id: int) -> int:
    """The rank of `user_id`'s role in the tenant (NO_RANK for a non-member)."""
    role = load_policy(user_id, tenant_id).role
    return role.rank if role is not None else NO_RANK


def may_act_on(actor: Actor, tenant_id: int, subject_id: int) -> bool:
    """True when `actor` may act on `subject_id` in the tenant: oneself, or someone ranking at most as high."""
    if actor.user.id == subject_id or actor.user.is_operator:
        return True
    return rank(subject_id, tenant_id) <= rank(actor.user.id, tenant_id)


def check_may_act_on(actor: Actor, tenant_id: int, subject_id: int, *, field: str | None = None) -> None:
    """Refuse (403 `outranked`) when the subject's role ranks above the actor's."""
    if may_act_on(actor, tenant_id, subject_id):
        return
    subject, own = load_policy(subject_id, tenant_id).role, load_policy(actor.user.id, tenant_id).role
    raise OutrankedError(str(_l("Their role here (%(theirs)s) ranks above yours (%(yours)s).",
                                theirs=subject.label if subject else "-", yours=own.label if own else "-")),
                         field=field)


def actions_of(module: str, action: str | None) -> list[str]:
    """The catalogue keys a target names: one action, or every action of the module (`module.*`)."""
    if action is not None:
        return [f"{module}.{action}"]
    return [a.key for a in catalogue.actions() if a.module == module]


def check_may_grant(actor: Actor, tenant_id: int, keys: list[str], resource: str | None = None, *,
                    field: str | None = None) -> None:
    """Refuse (403 `beyond_your_rights`) when the actor is not allowed every one of `keys` (on `resource`)."""
    if actor.user.is_operator:
        return
    policy = load_policy(actor.user.id, tenant_id)
    missing = [key for key in keys if not policy.allows(key, resource)]
    if missing:
        raise BeyondRightsError(str(_l("You do not have %(keys)s yourself, so you cannot grant it.",
                                       keys=", ".join(missing))), field=field)
