"""`flask permissions check`, `flask prune-expired-permissions`, `flask audit-orphan-permissions`,
`flask operators add|remove|list`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.errors import Forbidden
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.models import Effect, PermissionRule
from app.permissions.resolver import policy_version
from app.permissions.services import create_rule
from app.users.models import Role, User


@pytest.fixture
def team(member_of, create_user):
    owner, tenant = member_of(Role.OWNER)
    member = create_user("member@example.com", tenant=tenant)
    return owner, member, tenant


# ---------------------------------------------------------------- permissions check


def test_check_allow_exits_0_with_the_reason(run, team):
    owner, _, tenant = team
    result = run("permissions", "check", owner.email, tenant.slug, "settings.manage")
    assert result.exit_code == 0
    assert result.output == "ALLOW: The role owner includes settings.manage by default.\n"


def test_check_deny_exits_1_with_the_reason(run, team):
    _, member, tenant = team
    result = run("permissions", "check", member.email, tenant.slug, "settings.manage")
    assert result.exit_code == 1
    assert result.output == "DENY: No role default or rule grants settings.manage.\n"


def test_check_names_the_deciding_rule_and_takes_a_resource(run, team):
    owner, member, tenant = team
    rule = create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="permissions.manage",
                       resource=f"user:{owner.id}", reason="onboarding")
    db.session.commit()
    hit = run("permissions", "check", "MEMBER@example.com", tenant.slug, "permissions.manage",
              "--resource", f"user:{owner.id}")
    assert hit.exit_code == 0
    assert hit.output == (f"ALLOW: Allowed by ALLOW rule #{rule.id} (tenant) on permissions.manage "
                          f"[user:{owner.id}]: onboarding.\n")
    miss = run("permissions", "check", member.email, tenant.slug, "permissions.manage", "--resource",
               f"user:{member.id}")
    assert miss.exit_code == 1 and miss.output.startswith("DENY: No role default or rule grants")


def test_check_unknown_action_is_a_deny_with_the_reason(run, team):
    owner, _, tenant = team
    result = run("permissions", "check", owner.email, tenant.slug, "rockets.launch")
    assert result.exit_code == 1 and result.output == "DENY: rockets.launch is not a known permission.\n"


@pytest.mark.parametrize("resource, message", [
    ("user-42", "Error: Write the resource as type:id, e.g. user:42."),
    ("spaceship:1", "Error: Unknown resource type spaceship. Known: user."),
])
def test_check_bad_resource_is_a_clear_error(run, team, resource, message):
    owner, _, tenant = team
    result = run("permissions", "check", owner.email, tenant.slug, "settings.manage", "--resource", resource)
    assert result.exit_code == 1 and result.output.strip() == message
    assert "Traceback" not in result.output and "ALLOW" not in result.output


def test_check_unknown_email_or_tenant_is_a_clear_error(run, team):
    owner, _, tenant = team
    nobody = run("permissions", "check", "nobody@example.com", tenant.slug, "settings.manage")
    assert nobody.exit_code == 1 and nobody.output.strip() == "Error: no user with email nobody@example.com"
    nowhere = run("permissions", "check", owner.email, "no-such-tenant", "settings.manage")
    assert nowhere.exit_code == 1 and nowhere.output.strip() == "Error: no tenant no-such-tenant"


# ---------------------------------------------------------------- prune-expired-permissions


def test_prune_expired_permissions(run, team):
    owner, member, tenant = team
    for minutes in (-5, -1, 60):
        db.session.add(PermissionRule(tenant_id=tenant.id, user_id=member.id, effect=Effect.ALLOW,
                                      module="settings", action="manage",
                                      expires_at=utcnow() + timedelta(minutes=minutes)))
    db.session.commit()
    before = policy_version(member.id)
    result = run("prune-expired-permissions")
    assert result.exit_code == 0 and result.output == "2 expired rules pruned\n"
    assert db.session.scalar(select(PermissionRule).where(PermissionRule.expires_at <= utcnow())) is None
    assert len(db.session.scalars(select(PermissionRule)).all()) == 1
    assert policy_version(member.id) == before + 2
    assert run("prune-expired-permissions").output == "0 expired rules pruned\n"


# ---------------------------------------------------------------- audit-orphan-permissions


def test_audit_orphans_none(run, team):
    owner, member, tenant = team
    create_rule(Actor(owner), tenant, user_id=member.id, effect="allow", target="settings.manage")
    db.session.commit()
    result = run("audit-orphan-permissions")
    assert result.exit_code == 0 and result.output == "0 orphan rules\n"
    as_json = run("audit-orphan-permissions", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.output) == []


def test_audit_orphans_text_and_json_exit_1(run, team, create_user):
    owner, member, tenant = team
    unknown = PermissionRule(tenant_id=tenant.id, user_id=member.id, effect=Effect.ALLOW, module="rockets",
                             action="launch")
    global_unknown = PermissionRule(tenant_id=None, user_id=member.id, effect=Effect.DENY, module="rockets")
    db.session.add_all([unknown, global_unknown])
    gone = create_user(tenant=tenant)
    of_gone = create_rule(Actor(owner), tenant, user_id=gone.id, effect="deny", target="dashboard.view")
    gone.soft_delete()
    db.session.commit()

    text = run("audit-orphan-permissions")
    assert text.exit_code == 1
    assert text.output.splitlines() == [
        f"rule {unknown.id} (tenant {tenant.id}, rockets.launch): unknown permission rockets.launch",
        f"rule {global_unknown.id} (tenant global, rockets.*): unknown permission rockets.*",
        f"rule {of_gone.id} (tenant {tenant.id}, dashboard.view): user {gone.id} is deleted",
        "3 orphan rules",
    ]
    as_json = run("audit-orphan-permissions", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output) == [
        {"rule_id": unknown.id, "tenant_id": tenant.id, "user_id": member.id, "target": "rockets.launch",
         "problem": "unknown permission rockets.launch"},
        {"rule_id": global_unknown.id, "tenant_id": None, "user_id": member.id, "target": "rockets.*",
         "problem": "unknown permission rockets.*"},
        {"rule_id": of_gone.id, "tenant_id": tenant.id, "user_id": gone.id, "target": "dashboard.view",
         "problem": f"user {gone.id} is deleted"},
    ]


# ---------------------------------------------------------------- operators


def test_operators_add_list_remove(run, team, create_user):
    owner, member, tenant = team
    carol = create_user("carol@example.com")
    with pytest.raises(Forbidden):
        create_rule(Actor(carol), tenant, user_id=member.id, effect="deny", target="settings.*", scope="global")
    db.session.rollback()
    assert run("operators", "list").output == ""
    before = policy_version(carol.id)

    added = run("operators", "add", "Carol@Example.com")
    assert added.exit_code == 0 and added.output == "Carol@Example.com is now a platform operator\n"
    run("operators", "add", owner.email)
    assert run("operators", "list").output == f"carol@example.com\n{owner.email}\n"
    assert policy_version(carol.id) == before + 1
    db.session.refresh(carol)
    rule = create_rule(Actor(carol), tenant, user_id=member.id, effect="deny", target="settings.*", scope="global")
    db.session.commit()
    assert rule.is_global

    removed = run("operators", "remove", "carol@example.com")
    assert removed.exit_code == 0 and removed.output == "carol@example.com is no longer a platform operator\n"
    assert run("operators", "list").output == f"{owner.email}\n"
    db.session.refresh(carol)
    assert not carol.is_operator and policy_version(carol.id) == before + 2
    actions = [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.target_type == "user")
                                                    .order_by(AuditEvent.id))]
    assert actions == ["operator.granted", "operator.granted", "operator.revoked"]


def test_operators_unknown_email(run):
    result = run("operators", "add", "nobody@example.com")
    assert result.exit_code == 1 and result.output.strip() == "Error: no user with email nobody@example.com"
    assert db.session.scalar(select(User).where(User.is_operator)) is None


def test_check_agrees_with_the_web_for_someone_outside_the_tenant(run, member_of, create_user):
    """A global allow rule does not make a non-member's check ALLOW: the web answers 404 there."""
    from app.core.actor import Actor
    from app.extensions import db
    from app.permissions.services import create_rule
    from app.users.models import Role

    operator, tenant = member_of(Role.OWNER)
    operator.is_operator = True
    outsider, elsewhere = member_of(Role.MEMBER)
    db.session.commit()
    create_rule(Actor(operator), elsewhere, user_id=outsider.id, effect="allow", target="dashboard.view",
                reason="global", scope="global")
    db.session.commit()
    result = run("permissions", "check", outsider.email, tenant.slug, "dashboard.view")
    assert result.exit_code == 1 and result.output.startswith("DENY: Not a member of this tenant")
