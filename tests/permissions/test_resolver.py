"""The resolver: precedence, a property test against a reference evaluator, and the cache across apps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.core.ratelimit import limiter
from app.extensions import db
from app.permissions import catalogue, resolver
from app.permissions.models import Effect, PermissionRule
from app.permissions.policy import Policy
from app.permissions.resolver import bump_policy_version, cache, policy_version, resolve, warm_up
from app.permissions.services import create_rule, delete_rule
from app.tenants.models import Tenant
from app.users.models import Membership, Profile, Role, User, UserStatus
from tests.conftest import make_app


def _set_status(user: User, status: UserStatus) -> None:
    db.session.execute(update(Profile).where(Profile.user_id == user.id).values(status=status))
    bump_policy_version(user.id)
    db.session.commit()


def _add_member(tenant: Tenant, user: User, role: Role) -> None:
    db.session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    bump_policy_version(user.id)
    db.session.commit()


# ---------------------------------------------------------------- precedence


def test_role_default_allows_with_the_role_as_reason(member_of):
    user, tenant = member_of(Role.MEMBER)
    decision = resolve(user, tenant, "dashboard.view")
    assert decision.allowed and decision.rule is None
    assert decision.reason == "The role member includes dashboard.view by default."


def test_no_grant_is_denied_with_a_reason(member_of):
    user, tenant = member_of(Role.MEMBER)
    decision = resolve(user, tenant, "settings.manage")
    assert not decision.allowed and decision.rule is None
    assert decision.reason == "No role default or rule grants settings.manage."


def test_allow_rule_grants_what_the_role_lacks(member_of, create_user, add_rule):
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    rule = add_rule(owner, tenant, user, "allow", "settings.manage", reason="runs the settings this month")
    decision = resolve(user, tenant, "settings.manage")
    assert decision.allowed and decision.rule.id == rule.id
    assert decision.reason == (f"Allowed by ALLOW rule #{rule.id} (tenant) on settings.manage: "
                               "runs the settings this month.")


def test_deny_rule_beats_the_role_default(member_of, create_user, add_rule):
    admin, tenant = member_of(Role.ADMIN)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    assert resolve(admin, tenant, "settings.manage").allowed
    rule = add_rule(owner, tenant, admin, "deny", "settings.manage", reason="on leave")
    decision = resolve(admin, tenant, "settings.manage")
    assert not decision.allowed and decision.rule.id == rule.id and decision.rule.effect == Effect.DENY
    assert decision.reason == f"Denied by DENY rule #{rule.id} (tenant) on settings.manage: on leave."


# Each case: (allow rule, deny rule) as (target, scope); the check is on `permissions.manage`.
DENY_BEATS_ALLOW = {
    "same action": (("permissions.manage", "tenant"), ("permissions.manage", "tenant")),
    "module-wide deny vs action allow": (("permissions.manage", "tenant"), ("permissions.*", "tenant")),
    "action deny vs module-wide allow": (("permissions.*", "tenant"), ("permissions.manage", "tenant")),
    "module-wide both": (("permissions.*", "tenant"), ("permissions.*", "tenant")),
    "global deny vs tenant allow": (("permissions.manage", "tenant"), ("permissions.manage", "global")),
    "global allow vs tenant deny": (("permissions.manage", "global"), ("permissions.manage", "tenant")),
    "global module deny vs tenant action allow": (("permissions.manage", "tenant"), ("permissions.*", "global")),
}


@pytest.mark.parametrize("deny_first", [False, True], ids=["allow-created-first", "deny-created-first"])
@pytest.mark.parametrize("case", DENY_BEATS_ALLOW, ids=list(DENY_BEATS_ALLOW))
def test_deny_beats_allow_in_every_combination(case, deny_first, member_of, operator, add_rule):
    (allow_target, allow_scope), (deny_target, deny_scope) = DENY_BEATS_ALLOW[case]
    user, tenant = member_of(Role.MEMBER)  # no role default for permissions.manage
    _add_member(tenant, operator, Role.OWNER)
    specs = [("allow", allow_target, allow_scope), ("deny", deny_target, deny_scope)]
    created = {}
    for effect, target, scope in (reversed(specs) if deny_first else specs):
        created[effect] = add_rule(operator, tenant, user, effect, target, scope=scope)
    decision = resolve(user, tenant, "permissions.manage")
    assert not decision.allowed
    assert decision.rule.id == created["deny"].id and decision.rule.effect == Effect.DENY
    # Without the deny, the allow decides: the pair really met.
    delete_rule(Actor(operator), tenant, created["deny"].id)
    db.session.commit()
    decision = resolve(user, tenant, "permissions.manage")
    assert decision.allowed and decision.rule.id == created["allow"].id


def test_resource_deny_beats_a_general_allow_on_that_resource(member_of, create_user, add_rule):
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    add_rule(owner, tenant, user, "allow", "permissions.manage")
    deny = add_rule(owner, tenant, user, "deny", "permissions.manage", resource=f"user:{owner.id}")
    assert resolve(user, tenant, "permissions.manage").allowed
    assert resolve(user, tenant, "permissions.manage", f"user:{user.id}").allowed
    decision = resolve(user, tenant, "permissions.manage", f"user:{owner.id}")
    assert not decision.allowed and decision.rule.id == deny.id


def test_tenant_rule_never_applies_in_another_tenant(member_of, create_user, create_tenant, add_rule):
    user, tenant_a = member_of(Role.MEMBER)
    tenant_b = create_tenant()
    _add_member(tenant_b, user, Role.MEMBER)
    owner = create_user(tenant=tenant_a, role=Role.OWNER)
    add_rule(owner, tenant_a, user, "allow", "settings.manage")
    add_rule(owner, tenant_a, user, "deny", "dashboard.view")
    assert resolve(user, tenant_a, "settings.manage").allowed
    assert not resolve(user, tenant_a, "dashboard.view").allowed
    assert not resolve(user, tenant_b, "settings.manage").allowed
    other = resolve(user, tenant_b, "dashboard.view")
    assert other.allowed and other.rule is None


def test_global_rule_applies_in_every_tenant(member_of, create_tenant, operator, add_rule):
    user, tenant_a = member_of(Role.MEMBER)
    tenant_b = create_tenant()
    _add_member(tenant_b, user, Role.MEMBER)
    _add_member(tenant_a, operator, Role.OWNER)
    deny = add_rule(operator, tenant_a, user, "deny", "dashboard.view", scope="global")
    allow = add_rule(operator, tenant_a, user, "allow", "settings.manage", scope="global")
    assert deny.tenant_id is None and allow.tenant_id is None
    for tenant in (tenant_a, tenant_b):
        dashboard = resolve(user, tenant, "dashboard.view")
        assert not dashboard.allowed and dashboard.rule.id == deny.id and "(global)" in dashboard.reason
        assert resolve(user, tenant, "settings.manage").rule.id == allow.id


def test_expired_rules_are_ignored(member_of, create_user, add_rule):
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    now = utcnow()
    add_rule(owner, tenant, user, "allow", "settings.manage", expires_at=now + timedelta(hours=1))
    add_rule(owner, tenant, user, "deny", "dashboard.view", expires_at=now + timedelta(hours=1))
    policy = resolver.load_policy(user.id, tenant.id)
    assert policy.decide("settings.manage", now=now).allowed
    assert not policy.decide("dashboard.view", now=now).allowed
    later = now + timedelta(hours=1)  # the expiry instant itself is already past
    assert not policy.decide("settings.manage", now=later).allowed
    back = policy.decide("dashboard.view", now=later)
    assert back.allowed and back.rule is None


def test_rule_stored_already_expired_is_ignored(member_of, create_user):
    user, tenant = member_of(Role.MEMBER)
    db.session.add(PermissionRule(tenant_id=tenant.id, user_id=user.id, effect=Effect.ALLOW, module="settings",
                                  action="manage", expires_at=utcnow() - timedelta(seconds=1)))
    bump_policy_version(user.id)
    db.session.commit()
    decision = resolve(user, tenant, "settings.manage", explain=True)
    assert not decision.allowed and decision.rule is None
    assert any(line.startswith("ignored: ALLOW rule") for line in decision.trace)


def test_resource_limited_rule_applies_only_to_that_resource(member_of, create_user, add_rule):
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    rule = add_rule(owner, tenant, user, "allow", "permissions.manage", resource=f"user:{owner.id}")
    assert resolve(user, tenant, "permissions.manage", f"user:{owner.id}").rule.id == rule.id
    assert not resolve(user, tenant, "permissions.manage").allowed
    assert not resolve(user, tenant, "permissions.manage", f"user:{user.id}").allowed
    assert not resolve(user, tenant, "permissions.manage", f"token:{owner.id}").allowed


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.INACTIVE, UserStatus.PENDING])
def test_user_who_is_not_active_is_denied_everything(status, member_of, operator, add_rule):
    user, tenant = member_of(Role.OWNER)
    _add_member(tenant, operator, Role.OWNER)
    add_rule(operator, tenant, user, "allow", "settings.*")
    add_rule(operator, tenant, user, "allow", "dashboard.view", scope="global")
    assert resolve(user, tenant, "settings.manage").allowed
    _set_status(user, status)
    for action in catalogue.actions():
        decision = resolve(user, tenant, action.key)
        assert not decision.allowed and decision.rule is None
        assert decision.reason == f"The account is {status.value}: everything is denied."


def test_a_removed_membership_leaves_no_role(member_of):
    user, tenant = member_of(Role.ADMIN)
    assert resolve(user, tenant, "settings.manage").allowed
    db.session.scalar(select(Membership).where(Membership.user_id == user.id)).soft_delete()
    bump_policy_version(user.id)
    db.session.commit()
    assert resolver.load_policy(user.id, tenant.id).role is None
    assert not any(resolve(user, tenant, a.key).allowed for a in catalogue.actions())


def test_operator_who_is_not_a_member_may_only_view(operator, create_tenant):
    tenant = create_tenant()
    keys = [a.key for a in catalogue.actions()]
    assert any(k.endswith(".view") for k in keys) and any(not k.endswith(".view") for k in keys)
    for key in keys:
        decision = resolve(operator, tenant, key)
        assert decision.allowed == key.endswith(".view"), key
        if decision.allowed:
            assert decision.reason == "Platform operators may view every tenant."
        else:
            assert decision.reason == f"No role default or rule grants {key}."


def test_non_member_who_is_not_an_operator_has_no_defaults(create_user, create_tenant):
    user, tenant = create_user(), create_tenant()
    assert not any(resolve(user, tenant, a.key).allowed for a in catalogue.actions())


def test_unknown_action_is_denied_with_a_clear_reason(member_of, create_user, add_rule):
    user, tenant = member_of(Role.OWNER)
    decision = resolve(user, tenant, "rockets.launch")
    assert not decision.allowed and decision.reason == "rockets.launch is not a known permission."
    # Not even a module-wide allow grants an action the catalogue does not have.
    owner = create_user(tenant=tenant, role=Role.OWNER)
    add_rule(owner, tenant, user, "allow", "settings.*")
    decision = resolve(user, tenant, "settings.launch")
    assert not decision.allowed and decision.reason == "settings.launch is not a known permission."


def test_explain_gives_a_trace_naming_every_rule(member_of, create_user, add_rule):
    user, tenant = member_of(Role.ADMIN)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    allow = add_rule(owner, tenant, user, "allow", "settings.manage", reason="helps out")
    other = add_rule(owner, tenant, user, "deny", "settings.*", resource=f"user:{owner.id}")
    deny = add_rule(owner, tenant, user, "deny", "settings.*", reason="audit freeze")
    decision = resolve(user, tenant, "settings.manage", explain=True)
    assert not decision.allowed and decision.rule.id == deny.id
    # A deny does not cut the trace short: the role default closes it, as it closes an allow's, and what the
    # deny beat (the allow rule that applied, the role default that grants) is named.
    assert decision.trace == (
        f"matches: ALLOW rule #{allow.id} (tenant) on settings.manage: helps out",
        f"ignored: DENY rule #{other.id} (tenant) on settings.* [user:{owner.id}] (expired or another resource)",
        f"matches: DENY rule #{deny.id} (tenant) on settings.*: audit freeze",
        "The role admin includes settings.manage by default.",
    )
    assert decision.overrode == (f"ALLOW rule #{allow.id} (tenant) on settings.manage: helps out",
                                 "The role admin includes settings.manage by default.")
    assert decision.source == f"DENY rule #{deny.id} (tenant) on settings.*: audit freeze"
    # Without the deny the allow decides, and the role line closes the trace.
    delete_rule(Actor(owner), tenant, deny.id)
    db.session.commit()
    decision = resolve(user, tenant, "settings.manage", f"user:{user.id}", explain=True)
    assert decision.allowed and decision.rule.id == allow.id
    assert decision.trace == (
        f"matches: ALLOW rule #{allow.id} (tenant) on settings.manage: helps out",
        f"ignored: DENY rule #{other.id} (tenant) on settings.* [user:{owner.id}] (expired or another resource)",
        "The role admin includes settings.manage by default.",
    )
    assert decision.overrode == ()  # an allow beats nothing it has to name: the role line is in the trace
    assert resolve(user, tenant, "settings.manage").trace == ()  # no trace unless asked


def test_an_explained_decision_is_the_unexplained_one(member_of, create_user, add_rule):
    """Explaining takes another path through the rules: it must reach the same verdict and the same rule."""
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    add_rule(owner, tenant, user, "allow", "settings.*", reason="stand-in")
    add_rule(owner, tenant, user, "deny", "settings.manage", resource="user:7")
    add_rule(owner, tenant, user, "deny", "tokens.create", reason="frozen")
    add_rule(owner, tenant, user, "allow", "tokens.create", reason="late allow")
    for key in ("settings.manage", "tokens.create", "tokens.view", "permissions.manage", "dashboard.view"):
        for resource in (None, "user:7"):
            plain, explained = (resolve(user, tenant, key, resource, explain=flag) for flag in (False, True))
            assert (plain.allowed, plain.reason, plain.rule) == (explained.allowed, explained.reason,
                                                                 explained.rule), (key, resource)
    denied = resolve(user, tenant, "tokens.create", explain=True)
    assert denied.overrode[0].startswith("ALLOW rule #") and "late allow" in denied.overrode[0]
    assert denied.overrode[1] == "The role member includes tokens.create by default."


def test_a_change_not_yet_flushed_counts_when_the_policy_is_compiled(member_of):
    """Like an ORM query, the loader sees what this transaction changed but has not flushed yet."""
    user, tenant = member_of(Role.ADMIN)
    bump_policy_version(user.id)
    db.session.add(PermissionRule(tenant_id=tenant.id, user_id=user.id, effect=Effect.DENY, module="settings"))
    db.session.scalar(select(Membership).where(Membership.user_id == user.id)).role = Role.MEMBER
    decision = resolve(user, tenant, "settings.manage")
    assert not decision.allowed and decision.rule is not None
    assert resolve(user, tenant, "permissions.view").reason == "No role default or rule grants permissions.view."


# ---------------------------------------------------------------- property test against a reference

TENANT_A, TENANT_B = 1, 2
SUBJECT, OTHER_USER = 10, 11
RESOURCES = (None, "user:1", "user:2")
NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _action_keys() -> list[str]:
    return [a.key for a in catalogue.actions()]


def _checked_keys() -> list[str]:
    """Every declared action, and one undeclared action of a declared module (module-wide rules meet it)."""
    return [*_action_keys(), f"{catalogue.modules()[0]}.launch"]


@st.composite
def rule_specs(draw):
    key = draw(st.sampled_from(_action_keys()))
    module, _, action = key.partition(".")
    return {
        "effect": draw(st.sampled_from([Effect.ALLOW, Effect.DENY])),
        "module": module,
        # an action of the module, every action (None), or another module's action name (never matches)
        "action": draw(st.sampled_from([action, None, draw(st.sampled_from(_action_keys())).partition(".")[2]])),
        "resource": draw(st.sampled_from(RESOURCES)),
        "tenant_id": draw(st.sampled_from([TENANT_A, None, TENANT_B])),
        "user_id": draw(st.sampled_from([SUBJECT, SUBJECT, SUBJECT, OTHER_USER])),
        "expired": draw(st.booleans()),
        "deleted": draw(st.booleans()) and draw(st.booleans()),  # removed (soft-deleted): a quarter of them
    }


def _in_memory(n: int, spec: dict) -> PermissionRule:
    resource_type, _, resource_id = (spec["resource"] or "").partition(":")
    rule = PermissionRule(tenant_id=spec["tenant_id"], user_id=spec["user_id"], effect=spec["effect"],
                          module=spec["module"], action=spec["action"], resource_type=resource_type or None,
                          resource_id=resource_id or None, reason=f"spec {n}",
                          expires_at=NOW + (timedelta(seconds=-1) if spec["expired"] else timedelta(days=1)),
                          deleted_at=NOW - timedelta(days=1) if spec["deleted"] else None)
    rule.id = n
    return rule


def reference(rules, *, user_id, tenant_id, role, is_operator, status, key, resource, now):
    """The rules in words: (allowed, ids of the rules that may have decided, or None for a default)."""
    if status != UserStatus.ACTIVE or catalogue.get_action(key) is None:
        return False, None
    if role is None and not is_operator:  # not a member: nothing, whatever a global rule says
        return False, None
    module, _, action = key.partition(".")
    live = [r for r in rules
            if r.user_id == user_id and r.tenant_id in (tenant_id, None) and r.deleted_at is None
            and not (r.expires_at is not None and r.expires_at <= now)
            and r.module == module and r.action in (action, None)
            and (r.resource_type is None or f"{r.resource_type}:{r.resource_id}" == resource)]
    denies = {r.id for r in live if r.effect == Effect.DENY}
    if denies:
        return False, denies
    allows = {r.id for r in live if r.effect == Effect.ALLOW}
    if allows:
        return True, allows
    if role is not None:
        return catalogue.role_grants(role, key), None
    return is_operator and key.endswith(".view"), None


def _compare(decision, expected_allowed, deciding_ids, context):
    assert decision.allowed == expected_allowed, (context, decision.reason)
    if deciding_ids is None:
        assert decision.rule is None, (context, decision.reason)
    else:
        assert decision.rule is not None and decision.rule.id in deciding_ids, (context, decision.reason)
        assert decision.rule.effect == (Effect.ALLOW if expected_allowed else Effect.DENY), context


roles = st.sampled_from([None, *Role])
statuses = st.sampled_from(list(UserStatus))


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(rule_specs(), max_size=12), role=roles, is_operator=st.booleans(), status=statuses)
def test_compiled_policy_agrees_with_the_reference(base_app, specs, role, is_operator, status):
    """Pure: PermissionRule objects in memory, no session, no database."""
    rules = [_in_memory(n, spec) for n, spec in enumerate(specs, start=1)]
    # What compile_policy's query selects: this user's live rules of this tenant and global ones.
    loaded = [r for r in rules if r.user_id == SUBJECT and r.tenant_id in (TENANT_A, None) and not r.is_deleted]
    policy = Policy.compile(user_id=SUBJECT, tenant_id=TENANT_A, status=status, role=role,
                            is_operator=is_operator, version=1, rules=loaded)
    for key in _checked_keys():
        for resource in RESOURCES:
            expected, deciding = reference(rules, user_id=SUBJECT, tenant_id=TENANT_A, role=role,
                                           is_operator=is_operator, status=status, key=key,
                                           resource=resource, now=NOW)
            plain = policy.decide(key, resource, now=NOW)
            _compare(plain, expected, deciding, (key, resource))
            assert policy.decide(key, resource, now=NOW, explain=True) == plain  # explaining changes nothing
            assert policy.allows(key, resource, now=NOW) is plain.allowed  # the fast path agrees


@pytest.fixture
def world(app, create_tenant, create_user):
    """Two tenants and two users whose ids the property test's specs name."""
    tenant_a, tenant_b = create_tenant(), create_tenant()
    subject, other = create_user(tenant=tenant_b), create_user(tenant=tenant_a)
    return {TENANT_A: tenant_a, TENANT_B: tenant_b, SUBJECT: subject, OTHER_USER: other}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(rule_specs(), max_size=10), role=roles, is_operator=st.booleans(), status=statuses)
def test_resolver_from_the_database_agrees_with_the_reference(world, specs, role, is_operator, status):
    """The same comparison through the real loader: tenant, user and soft-delete filtering happen in SQL here."""
    tenant_a, subject = world[TENANT_A], world[SUBJECT]
    ids = {TENANT_A: tenant_a.id, TENANT_B: world[TENANT_B].id, None: None,
           SUBJECT: subject.id, OTHER_USER: world[OTHER_USER].id}
    db.session.execute(delete(PermissionRule))
    db.session.execute(delete(Membership).where(Membership.tenant_id == tenant_a.id,
                                                Membership.user_id == subject.id))
    if role is not None:
        db.session.add(Membership(tenant_id=tenant_a.id, user_id=subject.id, role=role))
    db.session.execute(update(Profile).where(Profile.user_id == subject.id).values(status=status))
    db.session.execute(update(User).where(User.id == subject.id).values(is_operator=is_operator))
    stored = []
    for n, spec in enumerate(specs, start=1):
        rule = _in_memory(n, spec)
        rule.id = None
        rule.tenant_id, rule.user_id = ids[spec["tenant_id"]], ids[spec["user_id"]]
        db.session.add(rule)
        stored.append(rule)
    bump_policy_version(subject.id)
    db.session.commit()
    policy = resolver.load_policy(subject.id, tenant_a.id)
    for key in _checked_keys():
        for resource in RESOURCES:
            expected, deciding = reference(stored, user_id=subject.id, tenant_id=tenant_a.id, role=role,
                                           is_operator=is_operator, status=status, key=key,
                                           resource=resource, now=NOW)
            _compare(policy.decide(key, resource, now=NOW), expected, deciding, (key, resource))


# ---------------------------------------------------------------- the cache across two apps


@pytest.fixture
def other_app(app, database_url, instance_path):
    """A second app on the same database, with its own policy cache (another process, in production)."""
    saved_limiter = dict(limiter.__dict__)
    second = make_app(database_url, instance_path)
    yield second
    with second.app_context():
        db.session.remove()
    limiter.__dict__.update(saved_limiter)


@pytest.fixture
def in_other(other_app):
    """in_other(fn, *ids): run fn with rows re-loaded by id inside the second app, and commit there."""

    def _run(fn, *loads):
        with other_app.app_context():
            rows = [db.session.get(model, id_) for model, id_ in loads]
            result = fn(*rows)
            db.session.commit()
            return result

    return _run


def test_each_app_has_its_own_cache(app, other_app):
    first = cache()
    with other_app.app_context():
        assert cache() is not first


def test_a_deny_created_in_another_app_takes_effect_at_once(app, in_other, member_of, create_user):
    user, tenant = member_of(Role.ADMIN)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    assert resolve(user, tenant, "settings.manage").allowed
    hits = cache().hits
    assert resolve(user, tenant, "settings.manage").allowed and cache().hits == hits + 1  # served from cache
    db.session.commit()

    rule_id = in_other(lambda actor, t: create_rule(Actor(actor), t, user_id=user.id, effect="deny",
                                                    target="settings.manage").id,
                       (User, owner.id), (Tenant, tenant.id))
    decision = resolve(user, tenant, "settings.manage")
    assert not decision.allowed and decision.rule.id == rule_id
    db.session.commit()

    in_other(lambda actor, t: delete_rule(Actor(actor), t, rule_id), (User, owner.id), (Tenant, tenant.id))
    assert resolve(user, tenant, "settings.manage").allowed


def test_a_role_change_in_another_app_takes_effect_at_once(app, in_other, member_of):
    user, tenant = member_of(Role.ADMIN)
    assert resolve(user, tenant, "settings.manage").allowed
    db.session.commit()

    def demote(_):
        db.session.execute(update(Membership).where(Membership.user_id == user.id).values(role=Role.MEMBER))
        bump_policy_version(user.id)

    in_other(demote, (User, user.id))
    decision = resolve(user, tenant, "settings.manage")
    assert not decision.allowed and decision.reason == "No role default or rule grants settings.manage."


def test_blocking_in_another_app_takes_effect_at_once(app, in_other, member_of):
    user, tenant = member_of(Role.OWNER)
    assert resolve(user, tenant, "dashboard.view").allowed
    db.session.commit()

    def block(_):
        db.session.execute(update(Profile).where(Profile.user_id == user.id).values(status=UserStatus.BLOCKED))
        bump_policy_version(user.id)

    in_other(block, (User, user.id))
    assert resolve(user, tenant, "dashboard.view").reason == "The account is blocked: everything is denied."


def test_without_the_version_bump_the_cached_decision_is_served(app, in_other, member_of):
    """The cache is real: a change that does not bump the version is not seen until the next bump."""
    user, tenant = member_of(Role.ADMIN)
    assert resolve(user, tenant, "settings.manage").allowed
    db.session.commit()

    def sneak_in_a_deny(_):
        db.session.add(PermissionRule(tenant_id=tenant.id, user_id=user.id, effect=Effect.DENY,
                                      module="settings", action="manage"))

    in_other(sneak_in_a_deny, (User, user.id))
    hits, misses = cache().hits, cache().misses
    assert resolve(user, tenant, "settings.manage").allowed  # stale, by design: nobody said it changed
    assert (cache().hits, cache().misses) == (hits + 1, misses)
    db.session.commit()

    in_other(lambda _: bump_policy_version(user.id), (User, user.id))
    assert not resolve(user, tenant, "settings.manage").allowed
    assert cache().misses == misses + 1


def test_warm_up_compiles_one_policy_per_membership(member_of, create_tenant, create_user):
    user, tenant_a = member_of(Role.MEMBER)
    tenant_b = create_tenant()
    _add_member(tenant_b, user, Role.ADMIN)
    create_user(tenant=create_tenant())  # someone else's tenant: not warmed for this user
    cache().clear()
    assert warm_up(user) == 2
    hits, misses = cache().hits, cache().misses
    assert resolve(user, tenant_a, "dashboard.view").allowed
    assert resolve(user, tenant_b, "settings.manage").allowed
    assert (cache().hits, cache().misses) == (hits + 2, misses)


@pytest.mark.postgres
def test_concurrent_rule_creation_bumps_the_version_once_each(app, member_of, create_user):
    user, tenant = member_of(Role.MEMBER)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    user_id, owner_id, tenant_id = user.id, owner.id, tenant.id
    before = policy_version(user_id)
    assert not resolve(user, tenant, "settings.manage").allowed  # a cached policy to invalidate
    db.session.commit()
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    errors = []

    def create(n: int):
        try:
            with app.app_context():
                actor, where = db.session.get(User, owner_id), db.session.get(Tenant, tenant_id)
                barrier.wait()
                create_rule(Actor(actor), where, user_id=user_id, effect="allow", target="settings.manage",
                            reason=f"thread {n}")
                db.session.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert policy_version(user_id) == before + threads_n
    rules = db.session.scalars(select(PermissionRule).where(PermissionRule.user_id == user_id)).all()
    assert len(rules) == threads_n
    decision = resolve(user, tenant, "settings.manage", explain=True)
    assert decision.allowed
    assert sum(line.startswith("matches: ALLOW rule") for line in decision.trace) == threads_n
