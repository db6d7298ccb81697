"""The sessions JSON API: the tenant's members' live sessions (search, pages), ending one under the ceiling, tenant
isolation and scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import EndReason, UserSession
from app.sessions.services import Lifetimes, start_session
from app.tokens import services, usage
from app.users.models import Role
from tests.tokens.helpers import problem_of

SESSIONS = "/api/v1/sessions"
LIFETIMES = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


@pytest.fixture(autouse=True)
def _write_usage_before_the_tables_are_emptied(app):
    yield
    usage.flush()


def _session(user, *, seen_ago: timedelta = timedelta(0), agent: str = "Mozilla/5.0 (X11; Linux) Firefox/130.0",
             ip: str = "192.0.2.10") -> UserSession:
    now = utcnow()
    row, _raw = start_session(user, ip=ip, user_agent=agent, now=now - seen_ago, lifetimes=LIFETIMES)
    db.session.commit()
    return row


def _secret(tenant, user, scope: str = "admin") -> str:
    issued = services.create_token(None, tenant, user, name=f"{scope} token", scope=scope)
    db.session.commit()
    return issued.secret


def _row(session_id: int) -> UserSession:
    db.session.expire_all()
    return db.session.get(UserSession, session_id)


@pytest.fixture
def crew(member_of, create_user):
    """(tenant, owner, admin, member, the admin's admin-scope secret)."""
    owner, tenant = member_of(Role.OWNER, email="owner@example.com")
    admin = create_user("admin@example.com", tenant=tenant, role=Role.ADMIN, name="Ada")
    member = create_user("member@example.com", tenant=tenant, role=Role.MEMBER, name="Mel")
    return tenant, owner, admin, member, _secret(tenant, admin)


def test_list_shows_live_sessions_of_the_members_only(api, crew, member_of):
    tenant, owner, admin, member, secret = crew
    older = _session(member, seen_ago=timedelta(minutes=5))
    newer = _session(owner, ip="198.51.100.7")
    idle = _session(member, seen_ago=timedelta(hours=1))  # past the idle limit: not live
    stranger, _other = member_of(Role.MEMBER)
    _session(stranger)  # another tenant's person
    body = api("get", SESSIONS, secret).get_json()
    assert body["total"] == 2 and [item["id"] for item in body["items"]] == [newer.id, older.id]
    first = body["items"][0]
    assert first == {"id": newer.id, "user_id": owner.id, "email": "owner@example.com", "device": newer.device,
                     "ip": "198.51.100.7", "signed_in_at": first["signed_in_at"],
                     "last_seen_at": first["last_seen_at"], "expires_at": first["expires_at"]}
    assert newer.device and first["signed_in_at"] and first["expires_at"] > first["last_seen_at"]
    assert idle.id not in {item["id"] for item in body["items"]}
    assert "digest" not in first


def test_search_and_pages(api, crew):
    tenant, owner, admin, member, secret = crew
    for _ in range(3):
        _session(member)
    _session(admin)
    mel = api("get", f"{SESSIONS}?q=MEL", secret).get_json()  # the name or the email, any case
    assert mel["total"] == 3 and {item["email"] for item in mel["items"]} == {"member@example.com"}
    assert api("get", f"{SESSIONS}?q=admin@", secret).get_json()["total"] == 1
    assert api("get", f"{SESSIONS}?q=nobody", secret).get_json()["items"] == []
    paged = api("get", f"{SESSIONS}?per_page=3&page=2", secret).get_json()
    assert (len(paged["items"]), paged["pages"], paged["total"]) == (1, 2, 4)
    assert api("get", f"{SESSIONS}?per_page=3&page=3", secret).get_json()["items"] == []  # past the end


@pytest.mark.parametrize("query", ["per_page=0", "page=abc", "q=" + "x" * 101, "user=1"])
def test_bad_queries_are_422(api, crew, query):
    tenant, owner, admin, member, secret = crew
    problem_of(api("get", f"{SESSIONS}?{query}", secret), 422, "request_invalid")


def test_delete_ends_a_members_session_with_audit(api, crew):
    tenant, owner, admin, member, secret = crew
    row = _session(member)
    response = api("delete", f"{SESSIONS}/{row.id}", secret)
    assert response.status_code == 204 and response.get_data() == b""
    ended = _row(row.id)
    assert ended.ended_at is not None and ended.end_reason == EndReason.ENDED_BY_ADMIN
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.ended_by_admin"))
    assert event.target_id == str(row.id) and event.actor_user_id == admin.id and event.tenant_id == tenant.id
    assert row.id not in {item["id"] for item in api("get", SESSIONS, secret).get_json()["items"]}
    problem_of(api("delete", f"{SESSIONS}/{row.id}", secret), 404, "not_found")  # already ended


def test_the_owners_session_is_out_of_an_admins_reach(api, crew):
    tenant, owner, admin, member, secret = crew
    row = _session(owner)
    problem_of(api("delete", f"{SESSIONS}/{row.id}", secret), 403, "outranked")
    assert _row(row.id).ended_at is None
    assert api("delete", f"{SESSIONS}/{row.id}", _secret(tenant, owner)).status_code == 204


def test_another_tenants_session_is_404(api, crew, member_of):
    tenant, owner, admin, member, secret = crew
    stranger, _other = member_of(Role.MEMBER)
    row = _session(stranger)
    problem_of(api("delete", f"{SESSIONS}/{row.id}", secret), 404, "not_found")
    problem_of(api("delete", f"{SESSIONS}/2147483647", secret), 404, "not_found")
    assert _row(row.id).ended_at is None


@pytest.mark.parametrize("scope", ["read", "write"])
def test_a_token_below_the_admin_scope_is_refused(api, crew, scope):
    tenant, owner, admin, member, _admin_secret = crew
    row = _session(member)
    secret = _secret(tenant, admin, scope)
    problem_of(api("get", SESSIONS, secret), 403, "insufficient_scope")
    problem_of(api("delete", f"{SESSIONS}/{row.id}", secret), 403, "insufficient_scope")
    assert _row(row.id).ended_at is None


def test_a_rule_denying_sessions_manage_closes_the_delete(api, crew, add_rule):
    tenant, owner, admin, member, secret = crew
    row = _session(member)
    add_rule(owner, tenant, admin, effect="deny", target="sessions.manage", reason="read only")
    assert api("get", SESSIONS, secret).status_code == 200
    body = problem_of(api("delete", f"{SESSIONS}/{row.id}", secret), 403, "forbidden")
    assert "read only" in body["detail"]
    assert _row(row.id).ended_at is None
