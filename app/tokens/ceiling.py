"""The privilege ceiling for tokens: a token's scope never exceeds what its owner may use, nor what the acting
person, or the token they act through, has; rotation (which mints a secret) is the owner's alone; revoking or
changing someone else's token follows the rank rule of `app.permissions.ceiling`."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.api.auth import Scope
from app.core.actor import Actor
from app.core.errors import Forbidden
from app.permissions.ceiling import may_act_on
from app.permissions.resolver import load_policy
from app.tenants.models import Tenant
from app.tokens import SCOPE_RIGHTS
from app.tokens.models import ApiToken
from app.users.models import User


def highest_scope(user: User, tenant: Tenant) -> Scope | None:
    """The highest scope `user` may give (or use) a token in `tenant`: `api.<scope>` permissions."""
    policy = load_policy(user.id, tenant.id)
    for scope in (Scope.ADMIN, Scope.WRITE, Scope.READ):
        if policy.allows(SCOPE_RIGHTS[scope]):
            return scope
    return None


class ScopeCeilingError(Forbidden):
    """A token would get a scope above what the acting person or token has."""

    code = "scope_above_ceiling"
    title = _l("A token cannot get a scope above what you have.")


class NotOwnerError(Forbidden):
    """Rotation mints a secret: only for the token's owner."""

    code = "not_owner"
    title = _l("Only its owner can rotate a token.")


def scope_ceiling(actor: Actor, tenant: Tenant) -> Scope | None:
    """The highest scope `actor` may put on a token here: what the person may use, capped by the scope of the
    token they act through (a write-scope token never mints or rotates an admin-scope one)."""
    ceiling = highest_scope(actor.user, tenant)
    if ceiling is not None and actor.scope is not None and not Scope(actor.scope).covers(ceiling):
        return Scope(actor.scope)
    return ceiling


def check_scope_ceiling(actor: Actor | None, tenant: Tenant, owner: User, wanted: Scope) -> None:
    """The privilege ceiling for a token's scope: the owner must be allowed it, and so must the actor (and the
    token the actor uses). Commands (no actor) are capped by the owner alone."""
    ceiling = highest_scope(owner, tenant)
    if ceiling is None or not ceiling.covers(wanted):
        raise ScopeCeilingError(str(_l("The owner may not use the %(scope)s scope here.", scope=wanted.value)),
                                field="scope")
    if actor is None:
        return
    mine = scope_ceiling(actor, tenant)
    if mine is None or not mine.covers(wanted):
        if actor.scope is not None and not Scope(actor.scope).covers(wanted):
            detail = _l("A token with the %(have)s scope cannot create or rotate a token with the %(want)s scope.",
                        have=actor.scope, want=wanted.value)
        else:
            detail = _l("You may not use the %(scope)s scope here, so you cannot give it.", scope=wanted.value)
        raise ScopeCeilingError(str(detail), field="scope")


def may_rotate(actor: Actor, token: ApiToken) -> bool:
    """Rotation hands out a new secret, so only the token's owner may rotate it (others may revoke)."""
    return actor.user.id == token.user_id


def may_change(actor: Actor, token: ApiToken) -> bool:
    """True when `actor` may revoke the token or change its limits: their own, or an owner ranking no higher."""
    return may_act_on(actor, token.tenant_id, token.user_id)
