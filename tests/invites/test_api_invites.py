"""The invites JSON API with a token: create (personal, link), list with filters, show, revoke, resend; scopes and
permissions, the tenant of the token only, the code shown once (never stored, logged or listed)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core import tokencodec
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus
from app.tokens import services as token_services
from app.tokens import usage
from app.users.models import Role
from tests.invites.helpers import actor
from tests.tokens.helpers import problem_of

URL = "/api/v1/invites"
FIELDS = {"id", "kind", "role", "status", "usable", "hint", "email", "email_domain", "max_uses", "uses",
          "needs_approval", "ttl_hours", "expires_at", "created_at", "inviter_id", "inviter_email", "accepted_at",
          "revoked_at"}


@pytest.fixture(autouse=True)
def _write_usage_before_the_tables_are_emptied(app):
    yield
    usage.flush()


@pytest.fixture
def team(member_of, create_user):
    """An admin and a member of one tenant, and a token maker: token(user, scope) -> secret."""
    admin, tenant = member_of(Role.ADMIN, email="admin@example.com")
    member = create_user("member@example.com", tenant=tenant, role=Role.MEMBER)

    def token(user=admin, scope: str = "write", of=tenant) -> str:
        issued = token_services.create_token(None, of, user, name="t", scope=scope)
        db.session.commit()
        return issued.secret

    return admin, member, tenant, token


def _issue(user, tenant, now=None, **kwargs):
    kwargs.setdefault("role", Role.MEMBER)
    invite, code = services.issue(actor(user), tenant, now=now or utcnow(), **kwargs)
    db.session.commit()
    return invite, code


def _fresh(invite_id: int) -> Invite:
    db.session.expire_all()
    return db.session.scalar(select(Invite).where(Invite.id == invite_id).execution_options(all_tenants=True))


# ---------------------------------------------------------------- create


def test_create_a_personal_invite_returns_the_code_and_link_once(api, team):
    admin, _, tenant, token = team
    response = api("POST", URL, token(), json={"role": "member", "email": " New.Person@Example.com "})
    assert response.status_code == 201, response.get_json()
    assert "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    code = body["code"]
    assert tokencodec.well_formed(code, "i") and body["link"].endswith(f"/join/{code}")
    assert set(body["invite"]) == FIELDS and "digest" not in str(body)
    invite = _fresh(body["invite"]["id"])
    assert invite.digest == crypto().digest(code) and code not in (invite.hint, invite.digest)
    assert body["invite"]["hint"] == invite.hint and body["invite"]["email"] == "new.person@example.com"
    assert (body["invite"]["kind"], body["invite"]["role"], body["invite"]["status"]) == ("personal", "member",
                                                                                         "pending")
    assert body["invite"]["usable"] and body["invite"]["ttl_hours"] == tenant.invite_ttl_hours
    assert (invite.tenant_id, invite.inviter_id, body["invite"]["inviter_email"]) == (tenant.id, admin.id,
                                                                                       admin.email)
    # the code is in no later answer
    listed = api("GET", URL, token(scope="read")).get_data(as_text=True)
    shown = api("GET", f"{URL}/{invite.id}", token(scope="read")).get_data(as_text=True)
    assert code not in listed + shown and invite.digest not in listed + shown


def test_create_a_link(api, team):
    *_, token = team
    response = api("POST", URL, token(), json={"kind": "link", "role": "member", "max_uses": 10,
                                               "email_domain": "@Example.com", "needs_approval": True,
                                               "ttl_hours": 24})
    assert response.status_code == 201, response.get_json()
    invite = response.get_json()["invite"]
    assert (invite["kind"], invite["max_uses"], invite["email_domain"], invite["needs_approval"],
            invite["ttl_hours"]) == ("link", 10, "example.com", True, 24)


def test_create_refuses_a_lifetime_over_the_tenant_s_longest(api, team):
    *_, tenant, token = team
    tenant.invite_max_ttl_hours = 96
    db.session.commit()
    problem = problem_of(api("POST", URL, token(), json={"role": "member", "ttl_hours": 97}), 422,
                         "validation_failed")
    assert "at most 96 hours" in str(problem)
    created = api("POST", URL, token(), json={"role": "member", "ttl_hours": 96})
    assert created.status_code == 201 and created.get_json()["invite"]["ttl_hours"] == 96


@pytest.mark.parametrize("body, field", [
    ({"role": "member", "ttl_hours": 0}, "ttl_hours"),
    ({"role": "member", "ttl_hours": 721}, "ttl_hours"),
    ({"role": "member", "email": "not an address"}, "email"),
    ({"role": "member", "max_uses": 3}, "max_uses"),  # a personal invite admits one
    ({"kind": "link", "role": "member", "email": "a@example.com"}, "email"),
    ({"kind": "link", "role": "member", "max_uses": 1001}, "max_uses"),
    ({"kind": "link", "role": "member", "email_domain": "not a domain"}, "email_domain"),
    ({"role": "emperor"}, "role"),
])
def test_create_refuses_a_bad_field_naming_it(api, team, body, field):
    *_, token = team
    problem = problem_of(api("POST", URL, token(), json=body), 422, "validation_failed")
    assert problem["field"] == field or field in str(problem.get("errors")), problem
    assert db.session.scalar(select(Invite.id).execution_options(all_tenants=True)) is None


@pytest.mark.parametrize("body", [{}, {"role": 5}, {"role": "member", "unknown": 1}, {"role": "member",
                                                                                      "ttl_hours": "72"},
                                  {"role": "member", "needs_approval": "yes"}])
def test_create_refuses_a_body_off_the_schema(api, team, body):
    *_, token = team
    problem_of(api("POST", URL, token(), json=body), 422, "request_invalid")


def test_create_needs_the_write_scope_and_invites_create(api, team, create_user):
    admin, member, _, token = team
    problem_of(api("POST", URL, token(scope="read"), json={"role": "member"}), 403, "insufficient_scope")
    manager = create_user("manager@example.com", tenant=team[2], role=Role.MANAGER)
    problem_of(api("POST", URL, token(manager), json={"role": "member"}), 403, "forbidden")
    problem_of(api("POST", URL, json={"role": "member"}), 401, "invalid_token")
    assert db.session.scalar(select(Invite.id).execution_options(all_tenants=True)) is None


def test_create_is_refused_above_ones_own_role(api, team):
    *_, token = team
    problem_of(api("POST", URL, token(), json={"role": "owner"}), 403, "beyond_your_rights")


def test_the_daily_limit_holds_through_the_api(api, team):
    admin, _, tenant, token = team
    tenant.invite_daily_limit = 2
    db.session.commit()
    secret = token()
    assert [api("POST", URL, secret, json={"role": "member"}).status_code for _ in range(2)] == [201, 201]
    problem_of(api("POST", URL, secret, json={"role": "member"}), 429, "invite_daily_limit")


def test_the_code_is_never_logged_or_audited(api, team, caplog):
    *_, token = team
    caplog.set_level(logging.DEBUG)
    response = api("POST", URL, token(), json={"role": "member"})
    code = response.get_json()["code"]
    resent = api("POST", f"{URL}/{response.get_json()['invite']['id']}/resend", token()).get_json()["code"]
    api("POST", f"{URL}/validate", json={"code": resent})
    assert code not in caplog.text and resent not in caplog.text
    details = [str(e.details) for e in db.session.scalars(select(AuditEvent).execution_options(all_tenants=True))]
    assert details and not any(code in d or resent in d for d in details)


# ---------------------------------------------------------------- list and show


def test_list_with_filters_and_pages(api, team, create_user):
    admin, member, tenant, token = team
    manager = create_user("manager@example.com", tenant=tenant, role=Role.MANAGER)
    tenant.invite_daily_limit = 20
    db.session.commit()
    first, _ = _issue(admin, tenant, email="ana@example.com")
    link, _ = _issue(admin, tenant, kind="link", max_uses=5, email_domain="corp.example")
    revoked, _ = _issue(admin, tenant, role=Role.MANAGER)
    services.revoke(actor(admin), tenant, revoked.id, now=utcnow())
    db.session.commit()
    by_manager, _ = _issue(manager, tenant)
    secret = token(scope="read")

    def ids(**query):
        response = api("GET", URL, secret, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [by_manager.id, revoked.id, link.id, first.id]  # newest first
    assert ids(status="revoked") == [revoked.id]
    assert ids(status="pending") == [by_manager.id, link.id, first.id]
    assert ids(role="manager") == [revoked.id]
    assert ids(kind="link") == [link.id]
    assert ids(inviter_id=manager.id) == [by_manager.id]
    assert ids(q="ana@") == [first.id] and ids(q="corp") == [link.id]
    assert ids(q=link.hint[-4:]) == [link.id]
    page = api("GET", URL, secret, query_string={"per_page": 3, "page": 2}).get_json()
    assert (page["total"], page["pages"], page["page"], page["per_page"]) == (4, 2, 2, 3)
    assert [i["id"] for i in page["items"]] == [first.id]
    for query in ({"status": "gone"}, {"role": "emperor"}, {"kind": "x"}, {"per_page": 101}, {"inviter_id": 0},
                  {"q": "x" * 101}, {"unknown": 1}):
        assert api("GET", URL, secret, query_string=query).status_code == 422, query


def test_show(api, team):
    admin, _, tenant, token = team
    invite, _ = _issue(admin, tenant, email="ana@example.com")
    body = api("GET", f"{URL}/{invite.id}", token(scope="read")).get_json()
    assert set(body) == FIELDS and body["id"] == invite.id and body["email"] == "ana@example.com"
    problem_of(api("GET", f"{URL}/999999", token(scope="read")), 404, "not_found")


def test_an_expired_invite_shows_it_is_not_usable(api, team):
    admin, _, tenant, token = team
    invite, _ = _issue(admin, tenant, now=utcnow() - timedelta(hours=100))
    body = api("GET", f"{URL}/{invite.id}", token(scope="read")).get_json()
    assert body["status"] == "pending" and body["usable"] is False  # until the expiry job marks it


def test_reading_needs_invites_view(api, team):
    admin, member, tenant, token = team
    invite, _ = _issue(admin, tenant)
    problem_of(api("GET", URL, token(member, "read")), 403, "forbidden")
    problem_of(api("GET", f"{URL}/{invite.id}", token(member, "read")), 403, "forbidden")


def test_a_token_never_reaches_another_tenants_invites(api, team, member_of):
    admin, _, tenant, token = team
    other_admin, other = member_of(Role.ADMIN)
    theirs, their_code = _issue(other_admin, other)
    ours, _ = _issue(admin, tenant)
    secret = token()
    listed = api("GET", URL, secret).get_json()
    assert [i["id"] for i in listed["items"]] == [ours.id]
    assert api("GET", URL, secret, query_string={"inviter_id": other_admin.id}).get_json()["items"] == []
    for method, path in (("GET", f"{URL}/{theirs.id}"), ("POST", f"{URL}/{theirs.id}/revoke"),
                         ("POST", f"{URL}/{theirs.id}/resend")):
        problem_of(api(method, path, secret), 404, "not_found")
    fresh = _fresh(theirs.id)
    assert fresh.status == InviteStatus.PENDING and fresh.digest == crypto().digest(their_code)


# ---------------------------------------------------------------- revoke and resend


def test_revoke(api, team):
    admin, _, tenant, token = team
    invite, code = _issue(admin, tenant)
    secret = token()
    response = api("POST", f"{URL}/{invite.id}/revoke", secret)
    assert response.status_code == 200 and response.get_json()["status"] == "revoked"
    assert response.get_json()["revoked_at"] is not None
    db.session.expire_all()
    assert services.validate(code, utcnow()) is None
    problem_of(api("POST", f"{URL}/{invite.id}/revoke", secret, json={}), 409, "invite_not_pending")
    problem_of(api("POST", f"{URL}/{invite.id}/revoke", secret, json={"reason": "x"}), 422, "request_invalid")


def test_resend_returns_a_fresh_code_once_and_the_old_one_stops(api, team):
    admin, _, tenant, token = team
    invite, old = _issue(admin, tenant)
    response = api("POST", f"{URL}/{invite.id}/resend", token())
    assert response.status_code == 201 and "no-store" in response.headers["Cache-Control"]
    body = response.get_json()
    new = body["code"]
    assert new != old and body["link"].endswith(f"/join/{new}") and body["invite"]["hint"] == tokencodec.hint(new)
    assert api("POST", f"{URL}/validate", json={"code": old}).get_json() == {"valid": False}
    assert api("POST", f"{URL}/validate", json={"code": new}).get_json()["valid"] is True


def test_revoke_and_resend_need_write_and_invites_revoke(api, team, create_user):
    admin, member, tenant, token = team
    manager = create_user("manager@example.com", tenant=tenant, role=Role.MANAGER)
    invite, _ = _issue(admin, tenant)
    for action in ("revoke", "resend"):
        problem_of(api("POST", f"{URL}/{invite.id}/{action}", token(scope="read")), 403, "insufficient_scope")
        problem_of(api("POST", f"{URL}/{invite.id}/{action}", token(manager)), 403, "forbidden")
    assert _fresh(invite.id).status == InviteStatus.PENDING


def test_resend_of_a_revoked_invite_is_a_conflict(api, team):
    admin, _, tenant, token = team
    invite, _ = _issue(admin, tenant)
    services.revoke(actor(admin), tenant, invite.id, now=utcnow())
    db.session.commit()
    problem_of(api("POST", f"{URL}/{invite.id}/resend", token()), 409, "invite_not_pending")


def test_the_link_uses_public_url_when_set(api, team, app, monkeypatch):
    *_, token = team
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://access.example.com")
    body = api("POST", URL, token(), json={"role": "member"}).get_json()
    assert body["link"] == f"https://access.example.com/join/{body['code']}"
