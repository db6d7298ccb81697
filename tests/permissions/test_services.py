"""Permission rule services: validation, removal, listing, pruning, orphans, the effective matrix, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.errors import Forbidden, NotFound, ValidationFailed
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions import catalogue
from app.permissions.models import Effect, PermissionRule
from app.permissions.resolver import bump_policy_version, policy_version, resolve
from app.permissions.services import (
    Actor,
    create_rule,
    delete_rule,
    effective_matrix,
    explain,
    list_rules,
    orphan_rules,
    parse_resource,
    prune_expired,
)
from app.users.models import Membership, Role


@pytest.fixture
def team(member_of, create_user):
    """An owner and a member of one tenant."""
    owner, tenant = member_of(Role.OWNER)
    member = create_user("member@example.com", tenant=tenant, role=Role.MEMBER)
    return owner, member, tenant


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- create_rule


def test_create_rule_stores_the_rule_and_bumps_the_version(team):
    owner, member, tenant = team
    before = policy_version(member.id)
    expires = utcnow() + timedelta(days=7)
    rule = create_rule(Actor(owner, ip="198.51.100.7", user_agent="pytest"), tenant, user_id=member.id,
                       effect="allow", target="settings.manage", resource=f"user:{owner.id}",
                       expires_at=expires, reason="  covering for the admin  ")
    db.session.commit()
    assert (rule.tenant_id, rule.user_id, rule.effect, rule.module, rule.action) == (
        tenant.id, member.id, Effect.ALLOW, "settings", "manage")
    assert (rule.resource, rule.reason, rule.created_by_id) == (f"user:{owner.id}", "covering for the admin",
                                                                owner.id)
    assert rule.expires_at == expires and not rule.is_global
    assert policy_version(member.id) == before + 1


def test_module_wide_target(team):
    owner, member, tenant = team
    for target in ("settings.*", "settings"):
        rule = create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target=target)
        assert rule.action is None and rule.target == "settings.*"


@pytest.mark.parametrize("kwargs, field, message", [
    ({"target": "rockets.launch"}, "target", "rockets.launch is not in the catalogue."),
    ({"target": "settings.launch"}, "target", "settings.launch is not in the catalogue."),
    ({"target": "rockets.*"}, "target", "rockets.* is not in the catalogue."),
    ({"effect": "maybe"}, "effect", "Choose allow or deny."),
    ({"scope": "planet"}, "scope", "Choose tenant or global scope."),
    ({"resource": "user-42"}, "resource", "Write the resource as type:id, e.g. user:42."),
    ({"resource": "user:4 2"}, "resource", "Write the resource as type:id, e.g. user:42."),
    ({"resource": "User:42"}, "resource", "Write the resource as type:id, e.g. user:42."),
    ({"resource": "spaceship:42"}, "resource", "Unknown resource type spaceship. Known: user."),
    ({"expires_at": "past"}, "expires_at", "The expiry must be in the future."),
])
def test_create_rule_refuses_bad_input(team, kwargs, field, message):
    owner, member, tenant = team
    args = {"user_id": member.id, "effect": "allow", "target": "settings.manage"} | kwargs
    if args.get("expires_at") == "past":
        args["expires_at"] = utcnow() - timedelta(minutes=1)
    with pytest.raises(ValidationFailed) as info:
        create_rule(Actor(owner), tenant, **args)
    assert info.value.field == field and str(info.value) == message
    assert db.session.scalar(select(PermissionRule)) is None


def test_create_rule_refuses_a_subject_who_is_not_a_member(team, create_user, create_tenant):
    owner, _, tenant = team
    outsider = create_user(tenant=create_tenant())
    with pytest.raises(NotFound) as info:
        create_rule(Actor(owner), tenant, user_id=outsider.id, effect="allow", target="settings.manage")
    assert info.value.field == "user_id" and str(info.value) == "Choose a member of this tenant."
    with pytest.raises(NotFound):
        create_rule(Actor(owner), tenant, user_id=999_999, effect="allow", target="settings.manage")


def test_global_rules_are_for_operators_only(team, operator):
    owner, member, tenant = team
    with pytest.raises(Forbidden) as info:
        create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target="settings.*", scope="global")
    assert str(info.value) == "Only platform operators may create global rules."
    rule = create_rule(Actor(operator), tenant, user_id=member.id, effect="deny", target="settings.*",
                       scope="global")
    db.session.commit()
    assert rule.is_global and rule.tenant_id is None and rule.created_by_id == operator.id


def test_create_rule_is_audited_in_the_tenant(team):
    owner, member, tenant = team
    rule = create_rule(Actor(owner, ip="198.51.100.7", user_agent="pytest", request_id="req-1"), tenant,
                       user_id=member.id, effect="deny", target="settings.manage", reason="freeze")
    db.session.commit()
    [event] = _events("permission.rule_created")
    assert (event.tenant_id, event.actor_user_id, event.target_type, event.target_id) == (
        tenant.id, owner.id, "permission_rule", str(rule.id))
    assert (event.ip, event.user_agent, event.request_id) == ("198.51.100.7", "pytest", "req-1")
    assert event.details == {"user_id": member.id, "effect": "deny", "target": "settings.manage",
                             "resource": None, "scope": "tenant", "expires_at": None, "reason": "freeze"}


def test_parse_resource():
    assert parse_resource(None) == (None, None) and parse_resource("") == (None, None)
    assert parse_resource(" user:42 ") == ("user", "42")
    assert parse_resource("user:abc_DEF-1") == ("user", "abc_DEF-1")
    with pytest.raises(ValidationFailed):
        parse_resource("user:" + "9" * 65)


# ---------------------------------------------------------------- delete_rule


def test_delete_rule_is_a_soft_delete_and_can_be_restored(team):
    owner, member, tenant = team
    rule = create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage")
    db.session.commit()
    assert resolve(member, tenant, "settings.manage").allowed
    before = policy_version(member.id)
    delete_rule(Actor(owner), tenant, rule.id)
    db.session.commit()
    assert policy_version(member.id) == before + 1
    assert not resolve(member, tenant, "settings.manage").allowed
    assert db.session.scalar(select(PermissionRule).where(PermissionRule.id == rule.id)) is None
    with pytest.raises(NotFound):
        delete_rule(Actor(owner), tenant, rule.id)  # already gone
    kept = db.session.scalar(select(PermissionRule).where(PermissionRule.id == rule.id)
                             .execution_options(include_deleted=True))
    assert kept is not None and kept.deleted_at is not None
    [event] = _events("permission.rule_deleted")
    assert event.target_id == str(rule.id) and event.details == {"user_id": member.id, "effect": "allow",
                                                                 "target": "settings.manage"}
    kept.restore()
    bump_policy_version(member.id)
    db.session.commit()
    assert resolve(member, tenant, "settings.manage").rule.id == rule.id


def test_global_rule_is_removed_by_operators_only(team, operator):
    owner, member, tenant = team
    rule = create_rule(Actor(operator), tenant, user_id=member.id, effect="deny", target="dashboard.view",
                       scope="global")
    db.session.commit()
    # to anyone else a global rule is not found: a 403 would tell that the id exists (an oracle)
    with pytest.raises(NotFound):
        delete_rule(Actor(owner), tenant, rule.id)
    delete_rule(Actor(operator), tenant, rule.id)
    db.session.commit()
    assert resolve(member, tenant, "dashboard.view").allowed


def test_another_tenants_rule_is_not_found(team, member_of):
    owner, _, tenant = team
    other_owner, other_tenant = member_of(Role.OWNER)
    foreign = create_rule(Actor(other_owner), other_tenant, user_id=other_owner.id, effect="deny",
                          target="settings.manage")
    db.session.commit()
    with pytest.raises(NotFound):
        delete_rule(Actor(owner), tenant, foreign.id)
    with pytest.raises(NotFound):
        delete_rule(Actor(owner), tenant, 999_999)
    assert db.session.get(PermissionRule, foreign.id).deleted_at is None


# ---------------------------------------------------------------- list_rules


def test_list_rules_filters_searches_and_pages(team, create_user, member_of, operator):
    owner, member, tenant = team
    third = create_user("carol@example.com", tenant=tenant)
    outsider_owner, other_tenant = member_of(Role.OWNER)
    made = [
        create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage",
                    reason="quarterly review"),
        create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target="dashboard.view"),
        create_rule(Actor(owner), tenant, user_id=third.id, effect="allow", target="permissions.view"),
        create_rule(Actor(operator), tenant, user_id=third.id, effect="deny", target="settings.*", scope="global"),
    ]
    create_rule(Actor(outsider_owner), other_tenant, user_id=outsider_owner.id, effect="deny",
                target="settings.manage")  # another tenant's: never listed here
    create_rule(Actor(operator), other_tenant, user_id=outsider_owner.id, effect="deny", target="dashboard.view",
                scope="global")  # global, but about someone who is not a member here
    deleted = create_rule(Actor(owner), tenant, user_id=third.id, effect="allow", target="dashboard.view")
    delete_rule(Actor(owner), tenant, deleted.id)
    db.session.commit()

    def ids(**kwargs):
        return [r.id for r in list_rules(tenant, **kwargs).items]

    assert ids() == [r.id for r in reversed(made)]  # newest first
    assert ids(user_id=member.id) == [made[1].id, made[0].id]
    assert ids(effect="deny") == [made[3].id, made[1].id]
    assert ids(effect="bogus") == ids()  # an unknown filter value is no filter
    assert ids(module="settings") == [made[3].id, made[0].id]
    assert ids(search="CAROL@") == [made[3].id, made[2].id]
    assert ids(search="Quarterly") == [made[0].id]
    assert ids(search="nobody") == []
    assert ids(user_id=third.id, effect="allow") == [made[2].id]
    first, second = list_rules(tenant, per_page=3), list_rules(tenant, page=2, per_page=3)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (4, 2, 3, 1)
    assert [r.id for r in first.items + second.items] == ids()
    assert list_rules(tenant, page=0, per_page=3).page == 1
    assert list_rules(tenant, page=9, per_page=3).items == []
    assert list_rules(other_tenant).total == 2  # its own rule and the global one about its member


# ---------------------------------------------------------------- prune_expired


def test_prune_soft_deletes_only_expired_rules(team, operator):
    owner, member, tenant = team
    now = utcnow()
    soon = create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage",
                       expires_at=now + timedelta(hours=1))
    later = create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target="dashboard.view",
                        expires_at=now + timedelta(days=2))
    forever = create_rule(Actor(owner), tenant, user_id=owner.id, effect="deny", target="settings.manage")
    soon_global = create_rule(Actor(operator), tenant, user_id=owner.id, effect="deny", target="permissions.*",
                              expires_at=now + timedelta(minutes=5), scope="global")
    db.session.commit()
    versions = {u.id: policy_version(u.id) for u in (owner, member)}

    assert prune_expired(now=now) == 0
    assert prune_expired(now=now + timedelta(hours=2)) == 2
    db.session.commit()
    live = set(db.session.scalars(select(PermissionRule.id)))
    assert live == {later.id, forever.id}
    gone = db.session.scalars(select(PermissionRule).where(PermissionRule.id.in_([soon.id, soon_global.id]))
                              .execution_options(include_deleted=True, all_tenants=True)).all()
    assert len(gone) == 2 and all(r.deleted_at is not None for r in gone)
    assert policy_version(member.id) == versions[member.id] + 1
    assert policy_version(owner.id) == versions[owner.id] + 1
    events = {e.target_id: e for e in _events("permission.rule_pruned")}
    assert set(events) == {str(soon.id), str(soon_global.id)}
    assert events[str(soon.id)].tenant_id == tenant.id and events[str(soon_global.id)].tenant_id is None
    assert events[str(soon.id)].details["target"] == "settings.manage"
    assert prune_expired(now=now + timedelta(hours=2)) == 0  # idempotent


# ---------------------------------------------------------------- orphan_rules


def test_orphans_are_found_with_the_problem_in_words(team, create_user, operator):
    owner, member, tenant = team
    leaver = create_user("leaver@example.com", tenant=tenant)
    gone = create_user("gone@example.com", tenant=tenant)
    fine = create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage",
                       resource=f"user:{owner.id}")
    create_rule(Actor(operator), tenant, user_id=member.id, effect="deny", target="dashboard.view", scope="global")
    unknown = PermissionRule(tenant_id=tenant.id, user_id=member.id, effect=Effect.ALLOW, module="rockets",
                             action="launch")
    unknown_action = PermissionRule(tenant_id=None, user_id=member.id, effect=Effect.DENY, module="settings",
                                    action="launch")
    unknown_type = PermissionRule(tenant_id=tenant.id, user_id=member.id, effect=Effect.DENY, module="settings",
                                  action="manage", resource_type="spaceship", resource_id="1")
    db.session.add_all([unknown, unknown_action, unknown_type])
    of_leaver = create_rule(Actor(owner), tenant, user_id=leaver.id, effect="allow", target="settings.manage")
    of_gone = create_rule(Actor(owner), tenant, user_id=gone.id, effect="allow", target="settings.manage")
    about_leaver = create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target="permissions.manage",
                               resource=f"user:{leaver.id}")
    about_stranger = create_rule(Actor(owner), tenant, user_id=member.id, effect="deny",
                                 target="permissions.manage", resource="user:999999")
    db.session.commit()
    assert [o.rule_id for o in orphan_rules()] == sorted([unknown.id, unknown_action.id, unknown_type.id,
                                                          about_stranger.id])

    db.session.scalar(select(Membership).where(Membership.user_id == leaver.id)).soft_delete()
    gone.soft_delete()
    db.session.commit()
    found = {o.rule_id: o for o in orphan_rules()}
    assert fine.id not in found
    assert {rule_id: o.problem for rule_id, o in found.items()} == {
        unknown.id: "unknown permission rockets.launch",
        unknown_action.id: "unknown permission settings.launch",
        unknown_type.id: "unknown resource type spaceship",
        of_leaver.id: f"user {leaver.id} is no longer a member of tenant {tenant.id}",
        of_gone.id: f"user {gone.id} is deleted",
        about_leaver.id: f"resource user:{leaver.id} does not exist",
        about_stranger.id: "resource user:999999 does not exist",
    }
    assert (found[unknown_action.id].tenant_id, found[unknown_action.id].target) == (None, "settings.launch")
    assert (found[of_gone.id].tenant_id, found[of_gone.id].user_id) == (tenant.id, gone.id)


def test_deleted_rules_are_not_orphans(team):
    owner, member, tenant = team
    rule = PermissionRule(tenant_id=tenant.id, user_id=member.id, effect=Effect.ALLOW, module="rockets")
    db.session.add(rule)
    db.session.commit()
    assert [o.rule_id for o in orphan_rules()] == [rule.id]
    rule.soft_delete()
    db.session.commit()
    assert orphan_rules() == []


# ---------------------------------------------------------------- matrix and explain


def test_effective_matrix_lists_every_action_with_its_decision(team):
    owner, member, tenant = team
    create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage")
    create_rule(Actor(owner), tenant, user_id=member.id, effect="deny", target="dashboard.view")
    db.session.commit()
    matrix = effective_matrix(member, tenant)
    assert [action.key for action, _ in matrix] == [a.key for a in catalogue.actions()]
    decided = {action.key: decision for action, decision in matrix}
    assert decided["settings.manage"].allowed and decided["settings.manage"].rule is not None
    assert not decided["dashboard.view"].allowed and decided["dashboard.view"].rule.effect == Effect.DENY
    assert not decided["permissions.manage"].allowed
    for key, decision in decided.items():
        assert decision == resolve(member, tenant, key)
    owner_matrix = {action.key: decision.allowed for action, decision in effective_matrix(owner, tenant)}
    assert all(owner_matrix.values())


def test_explain_checks_its_input(team):
    owner, member, tenant = team
    decision = explain(member, tenant, "settings.manage")
    assert not decision.allowed and decision.trace == ("The role member does not include settings.manage.",)
    with pytest.raises(ValidationFailed) as info:
        explain(member, tenant, "rockets.launch")
    assert info.value.field == "action" and str(info.value) == "rockets.launch is not in the catalogue."
    with pytest.raises(ValidationFailed) as info:
        explain(member, tenant, "settings.manage", "user 1")
    assert info.value.field == "resource"
    assert explain(member, tenant, "settings.manage", f"user:{owner.id}").allowed is False
