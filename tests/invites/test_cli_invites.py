"""`flask invites create|list` and `flask expire-invites`: the same checks and service as the pages and the API
(the inviter's permission, role ceiling and daily limit), the link and code printed once, never listed."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core import tokencodec
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.links import DEFAULT_BASE
from app.invites.models import Invite, InviteStatus
from app.users.models import Role
from tests.invites.helpers import actor

CODE = re.compile(r"hbx_i_[0-9A-Za-z]{36}")


@pytest.fixture
def team(member_of, create_user):
    admin, tenant = member_of(Role.ADMIN, email="admin@example.com")
    member = create_user("member@example.com", tenant=tenant, role=Role.MEMBER)
    return admin, member, tenant


def _invites() -> list[Invite]:
    db.session.expire_all()
    return list(db.session.scalars(select(Invite).order_by(Invite.id).execution_options(all_tenants=True)))


def _create(run, tenant, *extra, inviter="admin@example.com", role="member"):
    return run("invites", "create", "--tenant", tenant.slug, "--inviter", inviter, "--role", role, *extra)


def test_create_prints_the_link_and_the_code_once(run, team):
    admin, _, tenant = team
    before = utcnow()
    result = _create(run, tenant, "--email", " New@Example.com ")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and lines[1].startswith("link: ") and lines[2].startswith("code: ")
    code = lines[2].removeprefix("code: ")
    assert tokencodec.well_formed(code, "i") and lines[1] == f"link: {DEFAULT_BASE}/join/{code}"
    assert len(CODE.findall(result.output)) == 2  # the code, and the link holding it: nowhere else
    [invite] = _invites()
    assert invite.digest == crypto().digest(code) and invite.email == "new@example.com"
    assert (invite.inviter_id, invite.tenant_id, invite.role) == (admin.id, tenant.id, Role.MEMBER)
    assert before + timedelta(hours=72) <= invite.expires_at <= utcnow() + timedelta(hours=72)
    assert services.validate(code, utcnow()) is not None


def test_the_link_uses_public_url(run, team, app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://access.example.com")
    output = _create(run, team[2]).output
    code = CODE.search(output).group(0)
    assert f"link: https://access.example.com/join/{code}\n" in output


@pytest.mark.parametrize("value, hours", [("72h", 72), ("1h", 1), ("2d", 48), ("24", 24), (" 3D ", 72)])
def test_ttl(run, team, value, hours):
    before = utcnow()
    result = _create(run, team[2], "--ttl", value)
    assert result.exit_code == 0, result.output
    [invite] = _invites()
    assert invite.ttl_hours == hours
    assert before + timedelta(hours=hours) <= invite.expires_at <= utcnow() + timedelta(hours=hours)


@pytest.mark.parametrize("value, message", [
    ("0h", "An invite lasts 1 to 720 hours (30 days)."),  # the shared check's own words
    ("721h", "An invite lasts 1 to 720 hours (30 days)."),
    ("31d", "An invite lasts 1 to 720 hours (30 days)."),
    ("-5h", "is not a lifetime"), ("h", "is not a lifetime"), ("3.5h", "is not a lifetime"),
    ("72 hours", "is not a lifetime"), ("", "is not a lifetime"), ("9999999h", "is not a lifetime"),
])
def test_a_bad_ttl_is_a_usage_error(run, team, value, message):
    result = _create(run, team[2], "--ttl", value)
    assert result.exit_code == 2 and "Invalid value for '--ttl'" in result.output and message in result.output
    assert _invites() == []


def test_a_ttl_over_the_tenants_maximum_is_refused_by_the_service(run, team):
    team[2].invite_max_ttl_hours = 72
    db.session.commit()
    result = _create(run, team[2], "--ttl", "5d")  # over the tenant's longest, 72 hours
    assert result.exit_code == 1 and "72 hours" in result.output and _invites() == []


@pytest.mark.parametrize("args, message", [
    (("--role", "emperor"), "Invalid value for '--role'"),
    (("--email", "not an address"), "Invalid value for '--email'"),
])
def test_bad_fields_are_usage_errors(run, team, args, message):
    result = run("invites", "create", "--tenant", team[2].slug, "--inviter", "admin@example.com",
                 *(("--role", "member") if args[0] != "--role" else ()), *args)
    assert result.exit_code == 2 and message in result.output and _invites() == []


def test_the_inviters_ceiling_permission_and_limit_apply(run, team):
    admin, member, tenant = team
    result = _create(run, tenant, role="owner")
    assert result.exit_code == 1 and "role above your own" in result.output
    result = _create(run, tenant, inviter=member.email)
    assert result.exit_code == 1 and "may not invite" in result.output
    tenant.invite_daily_limit = 1
    db.session.commit()
    assert _create(run, tenant).exit_code == 0
    result = _create(run, tenant)
    assert result.exit_code == 1 and "daily limit" in result.output
    assert len(_invites()) == 1


def test_unknown_tenant_or_inviter(run, team):
    assert "no tenant nope" in run("invites", "create", "--tenant", "nope", "--inviter", "admin@example.com",
                                   "--role", "member").output
    result = _create(run, team[2], inviter="ghost@example.com")
    assert result.exit_code == 1 and "no user with email ghost@example.com" in result.output


# ---------------------------------------------------------------- list


def test_list(run, team, member_of):
    admin, _, tenant = team
    other_admin, other = member_of(Role.ADMIN)
    ours, code = services.issue(actor(admin), tenant, role=Role.MEMBER, email="a@example.com", now=utcnow())
    link, link_code = services.issue(actor(admin), tenant, role=Role.MEMBER, kind="link", max_uses=5,
                                     email_domain="corp.example", now=utcnow())
    theirs, their_code = services.issue(actor(other_admin), other, role=Role.MEMBER, now=utcnow())
    services.revoke(actor(other_admin), other, theirs.id, now=utcnow())
    db.session.commit()
    everything = run("invites", "list").output
    assert everything.endswith("3 invites\n")
    assert f"{ours.id}\t{tenant.slug}\tpersonal\tmember\tpending\t{ours.hint}\ta@example.com\t0/1\t" in everything
    assert "\t@corp.example\t0/5\t" in everything
    assert not CODE.search(everything) and ours.digest not in everything
    mine = run("invites", "list", "--tenant", tenant.slug).output
    assert mine.endswith("2 invites\n") and theirs.hint not in mine
    revoked = run("invites", "list", "--status", "revoked").output
    assert revoked.endswith("1 invites\n") and theirs.hint in revoked
    rows = json.loads(run("invites", "list", "--json", "--tenant", tenant.slug).output)
    assert [r["id"] for r in rows] == [link.id, ours.id]
    assert rows[1] == {**rows[1], "hint": ours.hint, "email": "a@example.com", "status": "pending",
                       "inviter": admin.email, "tenant": tenant.slug}
    assert all(code not in json.dumps(rows) for code in (code, link_code, their_code))
    bad = run("invites", "list", "--status", "gone")
    assert bad.exit_code == 2 and "Invalid value for '--status'" in bad.output


# ---------------------------------------------------------------- expire-invites (also the 15-minute job)


def test_expire_invites_command(run, team):
    admin, _, tenant = team
    old, _ = services.issue(actor(admin), tenant, role=Role.MEMBER, now=utcnow() - timedelta(hours=80))
    live, _ = services.issue(actor(admin), tenant, role=Role.MEMBER, now=utcnow())
    db.session.commit()
    assert run("expire-invites").output == "1 invites expired\n"
    statuses = {i.id: i.status for i in _invites()}
    assert statuses == {old.id: InviteStatus.EXPIRED, live.id: InviteStatus.PENDING}
    assert run("expire-invites").output == "0 invites expired\n"  # idempotent
