"""Permission rules: create, remove, list, prune, find orphans, and the effective matrix of a user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app import audit
from app.core.actor import Actor
from app.core.errors import Forbidden, NotFound
from app.core.fieldadapters import FieldErrors, validated
from app.core.fields import check_expiry, check_reason
from app.core.mixins import utcnow
from app.core.paging import Page, contains_text, page_of
from app.extensions import db
from app.permissions import catalogue
from app.permissions.ceiling import actions_of, check_may_act_on, check_may_grant
from app.permissions.checks import (
    RESOURCE_TYPES,
    check_action,
    check_effect,
    check_resource,
    check_scope,
    check_target,
)
from app.permissions.models import Effect, PermissionRule
from app.permissions.policy import Decision
from app.permissions.resolver import bump_policy_version, load_policy
from app.tenants.models import Tenant
from app.users.models import Membership, User
from app.users.services import member


def declare_resource(type_: str, exists: Callable[[int, str], bool]) -> None:
    """Let rules name resources of `type_`; `exists(tenant_id, id)` is used to find orphans."""
    RESOURCE_TYPES[type_] = exists


def _member_exists(tenant_id: int, user_id: str) -> bool:
    return user_id.isdigit() and db.session.scalar(
        select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == int(user_id))
        .execution_options(all_tenants=True)) is not None


declare_resource("user", _member_exists)


def resource_types() -> list[str]:
    """The resource types a rule may name."""
    return sorted(RESOURCE_TYPES)


def parse_resource(text: str | None) -> tuple[str | None, str | None]:
    """`type:id` -> (type, id); empty -> (None, None); anything else is refused (ValidationFailed on `resource`)."""
    return validated("resource", check_resource, text)


def create_rule(actor: Actor, tenant: Tenant, *, user_id: int, effect: str, target: str,
                resource: str | None = None, expires_at: datetime | None = None, reason: str | None = None,
                scope: str = "tenant") -> PermissionRule:
    """Add an allow or deny rule for a member. `target` is `module.action` or `module.*`.

    A reason given is checked as every entry point checks it (required, app.core.fields); None is a rule
    made in code, stored without one.

    Global scope (every tenant) is for platform operators only.

    A user who is not a member is 404 first (as any foreign id); then every refused field is said at once (422);
    then the refusals that hold whatever was typed (403).
    """
    subject = member(tenant, user_id)
    module, _, action = target.partition(".")
    action = None if action in {"", "*"} else action
    with FieldErrors() as errors:
        errors.collect(validated, "effect", check_effect, effect)
        errors.collect(validated, "target", check_target, target)
        errors.collect(validated, "scope", check_scope, scope)
        resource_type, resource_id = errors.collect(parse_resource, resource) or (None, None)
        expires_at = errors.collect(validated, "expires_at", check_expiry, expires_at, optional=True)
        reason = errors.collect(validated, "reason", check_reason, reason, optional=True) or ""
    if scope == "global" and not actor.user.is_operator:
        raise Forbidden(str(_l("Only platform operators may create global rules.")))
    # The ceiling: only on someone ranking no higher, and an allow only for what the actor has themselves.
    check_may_act_on(actor, tenant.id, subject.id, field="user_id")
    if effect == Effect.ALLOW.value:
        check_may_grant(actor, tenant.id, actions_of(module, action),
                        f"{resource_type}:{resource_id}" if resource_type else None, field="target")
    rule = PermissionRule(
        tenant_id=None if scope == "global" else tenant.id, user_id=subject.id, effect=Effect(effect),
        module=module, action=action, resource_type=resource_type, resource_id=resource_id,
        expires_at=expires_at, reason=reason, created_by_id=actor.user.id,
    )
    db.session.add(rule)
    db.session.flush()
    bump_policy_version(subject.id)
    audit.record("permission.rule_created", tenant_id=tenant.id, target_type="permission_rule", target_id=rule.id,
                 details={"user_id": subject.id, "effect": effect, "target": rule.target,
                          "resource": rule.resource, "scope": scope,
                          "expires_at": expires_at.isoformat() if expires_at else None, "reason": rule.reason},
                 **actor.meta())
    return rule


def get_rule(tenant: Tenant, rule_id: int) -> PermissionRule:
    """A live rule of this tenant, or a global one; 404 otherwise."""
    rule = db.session.scalar(
        select(PermissionRule).where(PermissionRule.id == rule_id,
                                     or_(PermissionRule.tenant_id == tenant.id, PermissionRule.tenant_id.is_(None)))
        .execution_options(all_tenants=True)
    )
    if rule is None:
        raise NotFound()
    return rule


def delete_rule(actor: Actor, tenant: Tenant, rule_id: int) -> PermissionRule:
    """Remove a rule (soft delete); global rules only by operators (to anyone else they are not found: a 403
    would tell that the id exists). Removing a deny rule grants what it denied, so it is under the ceiling too."""
    rule = get_rule(tenant, rule_id)
    _check_removal(actor, tenant, rule)
    rule.soft_delete()
    db.session.flush()
    bump_policy_version(rule.user_id)
    audit.record("permission.rule_deleted", tenant_id=tenant.id, target_type="permission_rule", target_id=rule.id,
                 details={"user_id": rule.user_id, "effect": rule.effect.value, "target": rule.target},
                 **actor.meta())
    return rule


def _check_removal(actor: Actor, tenant: Tenant, rule: PermissionRule) -> None:
    if rule.is_global and not actor.user.is_operator:
        raise NotFound()
    check_may_act_on(actor, tenant.id, rule.user_id)
    if rule.effect == Effect.DENY:
        check_may_grant(actor, tenant.id, actions_of(rule.module, rule.action), rule.resource)


def _check_edit(actor: Actor, tenant: Tenant, rule: PermissionRule) -> None:
    # A later expiry (or none) of an allow rule grants for longer, an earlier one of a deny lifts it sooner: an
    # edit is under the ceiling as the rule's creation and its removal are.
    _check_removal(actor, tenant, rule)
    if rule.effect == Effect.ALLOW:
        check_may_grant(actor, tenant.id, actions_of(rule.module, rule.action), rule.resource)


def may_remove(actor: Actor, tenant: Tenant, rule: PermissionRule) -> bool:
    """True when `actor` may remove `rule` (so pages offer only what the service will do)."""
    try:
        _check_removal(actor, tenant, rule)
    except (NotFound, Forbidden):
        return False
    return True


def may_edit(actor: Actor, tenant: Tenant, rule: PermissionRule) -> bool:
    """True when `actor` may change `rule`'s reason and expiry."""
    try:
        _check_edit(actor, tenant, rule)
    except (NotFound, Forbidden):
        return False
    return True


def rule_to_remove(actor: Actor, tenant: Tenant, rule_id: int) -> PermissionRule:
    """The rule `actor` asks to remove, when they may (the confirmation page): 404 or 403 otherwise."""
    rule = get_rule(tenant, rule_id)
    _check_removal(actor, tenant, rule)
    return rule


def rule_to_edit(actor: Actor, tenant: Tenant, rule_id: int) -> PermissionRule:
    """The rule `actor` asks to change, when they may (the edit page): 404 or 403 otherwise."""
    rule = get_rule(tenant, rule_id)
    _check_edit(actor, tenant, rule)
    return rule


def update_rule(actor: Actor, tenant: Tenant, rule_id: int, *, reason: str,
                expires_at: datetime | None) -> tuple[PermissionRule, dict[str, list]]:
    """Change a rule's reason and expiry (None: never); returns the rule and what changed (old, new).

    What a rule allows or denies, and to whom, is not changed here: that is another rule. An expiry equal to the
    stored one to the minute (forms show minutes) keeps the stored value, even a past one, so a rule can be
    reworded without touching its expiry; any other expiry must be in the future. Refusals: a foreign or (for
    anyone but an operator) global rule is 404, the ceiling 403, then every refused field at once (422)."""
    rule = rule_to_edit(actor, tenant, rule_id)
    if _same_minute(expires_at, rule.expires_at):
        expires_at = rule.expires_at
    with FieldErrors() as errors:
        if expires_at != rule.expires_at:
            expires_at = errors.collect(validated, "expires_at", check_expiry, expires_at, optional=True)
        reason = errors.collect(validated, "reason", check_reason, reason)
    changes: dict[str, list] = {}
    if reason != rule.reason:
        changes["reason"] = [rule.reason, reason]
        rule.reason = reason
    if expires_at != rule.expires_at:
        changes["expires_at"] = [_iso(rule.expires_at), _iso(expires_at)]
        rule.expires_at = expires_at
    if changes:
        db.session.flush()
        bump_policy_version(rule.user_id)  # compiled policies carry the expiry and the reason
        audit.record("permission.rule_updated", tenant_id=tenant.id, target_type="permission_rule",
                     target_id=rule.id, details={"user_id": rule.user_id, "effect": rule.effect.value,
                                                 "target": rule.target, "changes": changes},
                     **actor.meta())
    return rule, changes


def _same_minute(one: datetime | None, other: datetime | None) -> bool:
    if one is None or other is None:
        return one is other
    return one.replace(second=0, microsecond=0) == other.replace(second=0, microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def list_rules(tenant: Tenant, *, user_id: int | None = None, effect: str | None = None,
               module: str | None = None, search: str | None = None, page: int = 1,
               per_page: int = 25, clamp: bool = False) -> Page:
    """Rules that apply in this tenant (its own and global ones), newest first, filtered and paginated (`clamp`:
    past the end, the last page)."""
    query = (select(PermissionRule).join(User, User.id == PermissionRule.user_id)
             .where(or_(PermissionRule.tenant_id == tenant.id, PermissionRule.tenant_id.is_(None)),
                    PermissionRule.user_id.in_(select(Membership.user_id).where(Membership.tenant_id == tenant.id)))
             .execution_options(all_tenants=True))
    if user_id:
        query = query.where(PermissionRule.user_id == user_id)
    if effect in {e.value for e in Effect}:
        query = query.where(PermissionRule.effect == Effect(effect))
    if module:
        query = query.where(PermissionRule.module == module)
    if search:
        text = search.strip()
        query = query.where(or_(contains_text(User.email, text), contains_text(PermissionRule.reason, text)))
    return page_of(query.order_by(PermissionRule.id.desc()), page, per_page, clamp=clamp)


def rule_counts(tenant: Tenant, *, within: timedelta = timedelta(days=7), now: datetime | None = None) -> dict:
    """Unexpired rules that apply in this tenant (as list_rules lists them): allow, deny, expiring within `within`."""
    now = now or utcnow()
    live = (select(PermissionRule.effect, PermissionRule.expires_at)
            .where(or_(PermissionRule.tenant_id == tenant.id, PermissionRule.tenant_id.is_(None)),
                   PermissionRule.user_id.in_(select(Membership.user_id).where(Membership.tenant_id == tenant.id)),
                   or_(PermissionRule.expires_at.is_(None), PermissionRule.expires_at > now))
            .execution_options(all_tenants=True))
    counts = {"allow": 0, "deny": 0, "expiring": 0}
    for effect, expires_at in db.session.execute(live):
        counts[effect.value] += 1
        if expires_at is not None and expires_at <= now + within:
            counts["expiring"] += 1
    return counts


def explain(user: User, tenant: Tenant, key: str, resource: str | None = None) -> Decision:
    """The decision for one check, with the trace of every source considered."""
    with FieldErrors() as errors:
        errors.collect(validated, "action", check_action, key)
        errors.collect(parse_resource, resource)
    return load_policy(user.id, tenant.id).decide(key, resource or None, explain=True)


def effective_matrix(user: User, tenant: Tenant) -> list[tuple[catalogue.Action, Decision]]:
    """Every catalogue action with the user's decision in this tenant."""
    policy = load_policy(user.id, tenant.id)
    return [(action, policy.decide(action.key)) for action in catalogue.actions()]


def prune_expired(now: datetime | None = None) -> int:
    """Soft-delete every expired rule (they are already ignored); returns how many."""
    now = now or utcnow()
    rules = db.session.scalars(
        select(PermissionRule).where(PermissionRule.expires_at <= now).execution_options(all_tenants=True)
    ).all()
    for rule in rules:
        rule.soft_delete()
        bump_policy_version(rule.user_id)
        audit.record("permission.rule_pruned", tenant_id=rule.tenant_id, target_type="permission_rule",
                     target_id=rule.id, details={"user_id": rule.user_id, "target": rule.target,
                                                 "expired_at": rule.expires_at.isoformat()})
    db.session.flush()
    return len(rules)


@dataclass(frozen=True)
class Orphan:
    """A rule that points at something that is not there."""

    rule_id: int
    tenant_id: int | None
    user_id: int
    target: str
    problem: str


def orphan_rules() -> list[Orphan]:
    """Live rules naming an unknown module or action, a deleted user or non-member, or a missing resource."""
    found = []
    rules = db.session.scalars(select(PermissionRule).order_by(PermissionRule.id)
                               .execution_options(all_tenants=True)).all()
    live_users = set(db.session.scalars(select(User.id)))
    for rule in rules:
        problem = None
        if not catalogue.is_known(rule.module, rule.action):
            problem = f"unknown permission {rule.target}"
        elif rule.user_id not in live_users:
            problem = f"user {rule.user_id} is deleted"
        elif rule.tenant_id is not None and not _member_exists(rule.tenant_id, str(rule.user_id)):
            problem = f"user {rule.user_id} is no longer a member of tenant {rule.tenant_id}"
        elif rule.resource_type is not None:
            exists = RESOURCE_TYPES.get(rule.resource_type)
            if exists is None:
                problem = f"unknown resource type {rule.resource_type}"
            elif rule.tenant_id is not None and not exists(rule.tenant_id, rule.resource_id):
                problem = f"resource {rule.resource} does not exist"
        if problem:
            found.append(Orphan(rule.id, rule.tenant_id, rule.user_id, rule.target, problem))
    return found
