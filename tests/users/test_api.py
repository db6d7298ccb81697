"""The members JSON API: the list with the page's filters, one member, changing a role or a block here (with the
refusals of the ceiling and the last owner), tenant isolation, scope, and strict bodies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.services import Lifetimes, start_session
from app.tokens import services, usage
from app.users.models import Membership, Role, UserStatus
from tests.tokens.helpers import problem_of

USERS = "/api/v1/users"


@pytest.fixture(autouse=True)
def _write_usage_before_the_tables_are_emptied(app):
    yield
    usage.flush()


@pytest.fixture
def crew(member_of, create_user):
    """A tenant with an owner, an admin (with an admin-scope token) and three more people; (tenant, people, secret)."""
    owner, tenant = member_of(Role.OWNER, email="owner@example.com", name="Olga Owner")
    people = {
        "owner": owner,
        "admin": create_user("admin@example.com", tenant=tenant, role=Role.ADMIN, name="Ada Admin"),
        "manager": create_user("manny@example.com", tenant=tenant, role=Role.MANAGER, name="Manny"),
        "member": create_user("zed@example.com", tenant=tenant, role=Role.MEMBER, name="Zed"),
        "locked": create_user("lock@example.com", tenant=tenant, role=Role.MEMBER, name="Locky"),
    }
    people["locked"].profile.locked_until = utcnow() + timedelta(minutes=10)
    people["member"].profile.last_login_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    return tenant, people, _secret(tenant, people["admin"], "admin")


def _secret(tenant, user, scope: str) -> str:
    issued = services.create_token(None, tenant, user, name=f"{scope} token", scope=scope)
    db.session.commit()
    return issued.secret


def _get(api, url, secret):
    response = api("get", url, secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _membership(tenant, user) -> Membership:
    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                                      Membership.user_id == user.id)
                             .execution_options(include_deleted=True))


def _emails(body) -> list[str]:
    return [item["email"] for item in body["items"]]


def test_list_with_the_pages_filters_and_sort(api, crew, member_of):
    tenant, people, secret = crew
    member_of(Role.OWNER)  # someone of another tenant: never listed
    everyone = _get(api, USERS, secret)
    assert everyone["total"] == 5 and everyone["pages"] == 1
    assert _emails(everyone) == sorted(p.email for p in people.values())  # by email unless asked
    assert _emails(_get(api, f"{USERS}?q=MANNY", secret)) == ["manny@example.com"]  # email or name, any case
    assert _emails(_get(api, f"{USERS}?q=ada", secret)) == ["admin@example.com"]
    assert _emails(_get(api, f"{USERS}?role=member", secret)) == ["lock@example.com", "zed@example.com"]
    assert _emails(_get(api, f"{USERS}?state=locked", secret)) == ["lock@example.com"]
    assert _emails(_get(api, f"{USERS}?sort=role", secret))[:2] == ["owner@example.com", "admin@example.com"]
    assert _emails(_get(api, f"{USERS}?sort=last_sign_in", secret))[0] == "zed@example.com"
    assert _emails(_get(api, f"{USERS}?sort=name", secret)) == [
        "admin@example.com", "lock@example.com", "manny@example.com", "owner@example.com", "zed@example.com"]
    paged = _get(api, f"{USERS}?per_page=2&page=3", secret)
    assert (len(paged["items"]), paged["page"], paged["pages"], paged["total"]) == (1, 3, 3, 5)
    past = _get(api, f"{USERS}?per_page=2&page=4", secret)  # past the end: empty, so a client paging stops
    assert past["items"] == [] and past["page"] == 4


def test_an_item_says_role_state_and_times(api, crew):
    tenant, people, secret = crew
    items = {item["email"]: item for item in _get(api, USERS, secret)["items"]}
    zed = items["zed@example.com"]
    assert zed["id"] == people["member"].id and zed["name"] == "Zed" and zed["role"] == "member"
    assert (zed["state"], zed["blocked_here"], zed["account_status"]) == ("active", False, "active")
    assert zed["last_sign_in_at"] is not None and zed["joined_at"] is not None and zed["locked_until"] is None
    locky = items["lock@example.com"]
    assert locky["state"] == "locked" and locky["locked_until"] is not None


def test_blocked_here_everywhere_and_removed_states(api, crew):
    tenant, people, secret = crew
    blocked_here, removed = _membership(tenant, people["member"]), _membership(tenant, people["locked"])
    blocked_here.blocked_at = utcnow()
    removed.soft_delete()
    people["manager"].profile.status = UserStatus.BLOCKED
    db.session.commit()
    blocked = {item["email"]: item for item in _get(api, f"{USERS}?state=blocked", secret)["items"]}
    assert set(blocked) == {"zed@example.com", "manny@example.com"}
    assert blocked["zed@example.com"]["blocked_here"] is True
    assert blocked["manny@example.com"]["blocked_here"] is False
    assert blocked["manny@example.com"]["account_status"] == "blocked"
    assert {item["state"] for item in blocked.values()} == {"blocked"}
    assert "lock@example.com" not in _emails(_get(api, USERS, secret))  # removed: only with state=removed
    removed = _get(api, f"{USERS}?state=removed", secret)["items"]
    assert [(item["email"], item["state"]) for item in removed] == [("lock@example.com", "removed")]


def test_show_one_member(api, crew):
    tenant, people, secret = crew
    body = _get(api, f"{USERS}/{people['manager'].id}", secret)
    assert body["email"] == "manny@example.com" and body["role"] == "manager" and body["state"] == "active"


def test_someone_elsewhere_is_404(api, crew, member_of, create_user):
    tenant, people, secret = crew
    stranger, _other = member_of(Role.MEMBER)
    loner = create_user()  # no tenant at all
    for user in (stranger, loner):
        problem_of(api("get", f"{USERS}/{user.id}", secret), 404, "not_found")
        problem_of(api("patch", f"{USERS}/{user.id}", secret, json={"status": "blocked"}), 404, "not_found")
    problem_of(api("get", f"{USERS}/2147483647", secret), 404, "not_found")


def test_patch_role_then_status_with_audit(api, crew):
    tenant, people, secret = crew
    url = f"{USERS}/{people['member'].id}"
    response = api("patch", url, secret, json={"role": "manager"})
    assert response.status_code == 200 and response.get_json()["role"] == "manager"
    assert _membership(tenant, people["member"]).role == Role.MANAGER
    body = api("patch", url, secret, json={"status": "blocked"}).get_json()
    assert (body["state"], body["blocked_here"], body["role"]) == ("blocked", True, "manager")
    assert _membership(tenant, people["member"]).blocked_at is not None
    body = api("patch", url, secret, json={"status": "active", "role": "member"}).get_json()
    assert (body["state"], body["blocked_here"], body["role"]) == ("active", False, "member")
    actions = db.session.scalars(select(AuditEvent.action)
                                 .where(AuditEvent.target_id == str(people["member"].id)).order_by(AuditEvent.id)).all()
    assert actions == ["member.role_changed", "member.blocked", "member.role_changed", "member.unblocked"]


def test_a_block_ends_the_members_sessions_here(api, crew):
    tenant, people, secret = crew
    row, _raw = start_session(people["member"], ip="192.0.2.1", user_agent="pytest", now=utcnow(),
                              lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=1)),
                              tenant_id=tenant.id)
    db.session.commit()
    assert api("patch", f"{USERS}/{people['member'].id}", secret, json={"status": "blocked"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(UserSession, row.id).ended_at is not None


def test_asking_for_what_already_is_changes_nothing(api, crew):
    tenant, people, secret = crew
    url = f"{USERS}/{people['member'].id}"
    for _ in range(2):  # a repeated request is harmless
        assert api("patch", url, secret, json={"status": "blocked", "role": "member"}).status_code == 200
    assert api("patch", url, secret, json={"status": "active"}).status_code == 200
    assert api("patch", url, secret, json={"status": "active"}).status_code == 200
    actions = db.session.scalars(select(AuditEvent.action)
                                 .where(AuditEvent.target_id == str(people["member"].id))).all()
    assert sorted(actions) == ["member.blocked", "member.unblocked"]


@pytest.mark.parametrize(("target", "change", "status", "code"), [
    ("owner", {"role": "member"}, 403, "outranked"),
    ("owner", {"status": "blocked"}, 403, "outranked"),
    ("member", {"role": "owner"}, 403, "beyond_your_rights"),
    ("admin", {"status": "blocked"}, 409, "conflict"),  # oneself
])
def test_patch_refusals(api, crew, target, change, status, code):
    tenant, people, secret = crew
    before = _membership(tenant, people[target])
    role, blocked = before.role, before.blocked_at
    problem_of(api("patch", f"{USERS}/{people[target].id}", secret, json=change), status, code)
    after = _membership(tenant, people[target])
    assert (after.role, after.blocked_at) == (role, blocked)


def test_the_last_owner_keeps_the_tenant(api, crew):
    tenant, people, _secret_of_admin = crew
    owner = _secret(tenant, people["owner"], "admin")
    body = problem_of(api("patch", f"{USERS}/{people['owner'].id}", owner, json={"role": "admin"}), 409, "conflict")
    assert "last owner" in body["detail"]
    assert _membership(tenant, people["owner"]).role == Role.OWNER


@pytest.mark.parametrize("scope", ["read", "write"])
def test_a_token_below_the_admin_scope_is_refused(api, crew, scope):
    tenant, people, _admin_secret = crew
    secret = _secret(tenant, people["admin"], scope)
    for method, url, body in (("get", USERS, None), ("get", f"{USERS}/{people['member'].id}", None),
                              ("patch", f"{USERS}/{people['member'].id}", {"status": "blocked"})):
        problem_of(api(method, url, secret, json=body), 403, "insufficient_scope")
    assert _membership(tenant, people["member"]).blocked_at is None


def test_a_manager_may_not_use_the_admin_scope(api, crew):
    # users.view is a manager's, but the admin scope (api.admin) is not: the route needs both
    tenant, people, _secret_of_admin = crew
    issued = services.create_token(None, tenant, people["admin"], name="kept", scope="admin")
    db.session.commit()
    _membership(tenant, people["admin"]).role = Role.MANAGER
    from app.permissions.resolver import bump_policy_version

    bump_policy_version(people["admin"].id)
    db.session.commit()
    problem_of(api("get", USERS, issued.secret), 403, "insufficient_scope")


@pytest.mark.parametrize(("payload", "code", "field"), [
    ({}, "request_invalid", None),  # something to change
    ({"role": None}, "request_invalid", "role"),  # leave a field out to keep it; null means nothing
    ({"role": "emperor"}, "validation_failed", "role"),
    ({"status": "removed"}, "validation_failed", "status"),
    ({"status": True}, "request_invalid", "status"),  # not text: refused before the field's check
    ({"role": ["admin"]}, "request_invalid", "role"),
    ({"role": "admin", "email": "x@example.com"}, "request_invalid", "email"),  # unknown fields
])
def test_strict_bodies_are_422(api, crew, payload, code, field):
    tenant, people, secret = crew
    body = problem_of(api("patch", f"{USERS}/{people['member'].id}", secret, json=payload), 422, code)
    if field is not None:
        assert field in [loc for error in body["errors"] for loc in error["loc"]]
    assert _membership(tenant, people["member"]).role == Role.MEMBER


def test_an_empty_patch_says_so_in_portuguese(api, crew):
    tenant, people, secret = crew
    response = api("patch", f"{USERS}/{people['member'].id}", secret, json={}, headers={"Accept-Language": "pt-BR"})
    assert problem_of(response, 422, "request_invalid")["detail"] == "Envie uma função, uma situação ou ambas."


def test_bodies_that_are_not_json_are_refused(api, crew):
    tenant, people, secret = crew
    url = f"{USERS}/{people['member'].id}"
    problem_of(api("patch", url, secret, data="role=admin", content_type="application/x-www-form-urlencoded"), 415,
               "unsupported_media_type")
    problem_of(api("patch", url, secret, data="{", content_type="application/json"), 400, "malformed_json")


@pytest.mark.parametrize("query", ["state=gone", "role=emperor", "sort=random", "per_page=101", "page=0",
                                   "q=" + "x" * 101, "colour=blue"])
def test_bad_list_queries_are_422(api, crew, query):
    tenant, people, secret = crew
    body = problem_of(api("get", f"{USERS}?{query}", secret), 422, "request_invalid")
    assert body["errors"] and body["errors"][0]["loc"]
