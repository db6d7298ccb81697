"""The JSON API of tokens and permissions: scope enforcement on every route (driven by the route table),
tenant isolation, each endpoint's contract, body checks after authentication, strict schemas, and no
plaintext secret anywhere at rest or in the logs."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import select, text, update

from app.audit.models import AuditEvent
from app.core import tokencodec
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services as invite_services
from app.permissions.models import PermissionRule
from app.permissions.services import create_rule
from app.sessions.services import Lifetimes, start_session
from app.tokens import services, usage
from app.tokens.models import ApiToken, Scope
from app.users.models import Role
from tests.security.route_table import api_routes
from tests.tokens.helpers import problem_of
from tests.twofactor.helpers import enrolled

ME = "/api/v1/me"
TOKENS = "/api/v1/tokens"
RULES = "/api/v1/permissions/rules"
BELOW = {"write": "read", "admin": "write"}
ID_ARGS = {"token_id", "rule_id", "user_id", "session_id"}
ID_ARGS |= {"invite_id"}


def _db_token(token_id: int) -> ApiToken:
    db.session.expire_all()
    return db.session.get(ApiToken, token_id)


# ---------------------------------------------------------------- scope enforcement, from the route table


# A valid minimal body per JSON route that takes one; `ctx` holds ids of rows that exist.
SAMPLE_BODIES = {
    "tokens_api.create_token": lambda ctx: {"name": "sample", "scope": "read"},
    "tokens_api.revoke_token": lambda ctx: {"reason": "sample"},
    "tokens_api.rotate_token": lambda ctx: {},
    "tokens_api.introspect": lambda ctx: {"token": ctx["target_secret"]},
    "permissions_api.create_rule": lambda ctx: {"user_id": ctx["member_id"], "effect": "allow",
                                                "target": "dashboard.view", "reason": "sample"},
    "permissions_api.check": lambda ctx: {"user_id": ctx["member_id"], "action": "tokens.view"},
    "users_api.update_user": lambda ctx: {"role": "manager"},
    "twofactor_api.reset_member_twofa": lambda ctx: {},
    "invites_api.create_invite": lambda ctx: {"role": "member"},
    "invites_api.revoke_invite": lambda ctx: {},
    "invites_api.resend_invite": lambda ctx: {},
}


def _methods(rule) -> list[str]:
    return sorted(m for m in rule.methods if m not in {"HEAD", "OPTIONS"})


def _api_cases(app, ctx: dict) -> list[tuple[str, str, str, dict | None]]:
    """(endpoint, method, url, body) for every JSON route of the route table."""
    routes = api_routes()
    cases = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint not in routes:
                continue
            args = {name: ctx.get((rule.endpoint, name), ctx[name]) for name in rule.arguments}
            assert set(rule.arguments) <= ID_ARGS, f"{rule.endpoint}: teach this test the argument"
            for method in _methods(rule):
                body = None
                if method in {"POST", "PUT", "PATCH"}:
                    assert rule.endpoint in SAMPLE_BODIES, f"add a sample body for {rule.endpoint}"
                    body = SAMPLE_BODIES[rule.endpoint](ctx)
                cases.append((rule.endpoint, method, url_for(rule.endpoint, **args), body))
    assert {c[0] for c in cases} == set(routes), "every JSON route of the table has a case"
    return cases


@pytest.fixture
def scoped(issue, create_user):
    """An admin with a token of every scope, a member, and a token and a rule that exist in the tenant."""
    admin = issue(Role.ADMIN, "read")
    tokens = {"read": admin.secret}
    for scope in ("write", "admin"):
        tokens[scope] = issue(user=admin.user, tenant=admin.tenant, scope=scope).secret
    member = create_user(tenant=admin.tenant)
    target = issue(user=admin.user, tenant=admin.tenant, scope="read", name="target")
    rule = create_rule(Actor(admin.user), admin.tenant, user_id=member.id, effect="allow",
                       target="dashboard.view", reason="exists")
    db.session.commit()
    session_row, _raw = start_session(member, ip="192.0.2.1", user_agent="pytest", now=utcnow(),
                                      lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=1)))
    db.session.commit()
    enrolled(member)  # a second factor for the reset route to remove
    ctx = {"token_id": target.token.id, "rule_id": rule.id, "member_id": member.id, "target_secret": target.secret,
           "user_id": member.id, "session_id": session_row.id}
    for endpoint in ("tokens_api.revoke_token", "tokens_api.rotate_token"):  # one target each: changes stay apart
        ctx[endpoint, "token_id"] = issue(user=admin.user, tenant=admin.tenant, scope="read").token.id
    admin.tenant.invite_daily_limit = 50  # every scope creates and resends: more than the default 5 a day
    for endpoint in ("invites_api.show_invite", "invites_api.revoke_invite", "invites_api.resend_invite"):
        invite, _code = invite_services.issue(Actor(admin.user), admin.tenant, role="member", now=utcnow())
        ctx[endpoint, "invite_id"] = ctx["invite_id"] = invite.id
    db.session.commit()
    return admin, tokens, ctx


def test_a_scope_below_the_required_one_is_403_insufficient_scope(app, api, scoped):
    admin, tokens, ctx = scoped
    cases = _api_cases(app, ctx)
    checked = 0
    for endpoint, method, url, body in cases:
        needed, _permission = api_routes()[endpoint]
        if needed not in BELOW:
            continue
        response = api(method, url, tokens[BELOW[needed]], json=body)
        problem_of(response, 403, "insufficient_scope")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="hubx", error="insufficient_scope"'
        checked += 1
    assert checked >= 5
    assert _db_token(ctx["token_id"]).status() == "active"  # nothing was done by a refused call


def test_an_owner_denied_the_api_is_refused_on_every_route(app, api, scoped):
    admin, tokens, ctx = scoped
    create_rule(Actor(admin.user), admin.tenant, user_id=admin.user.id, effect="deny", target="api.*",
                reason="no API")
    db.session.commit()
    for endpoint, method, url, body in _api_cases(app, ctx):
        # the owner's rights bound every token: without api.<scope>, even an admin-scope token does nothing
        problem_of(api(method, url, tokens["admin"], json=body), 403, "insufficient_scope")
    assert _db_token(ctx["token_id"]).status() == "active"


def test_the_required_scope_and_above_get_past_the_check(app, api, scoped):
    admin, tokens, ctx = scoped
    for endpoint, method, url, body in _api_cases(app, ctx):
        needed, _permission = api_routes()[endpoint]
        exact = api(method, url, tokens[needed], json=body)
        assert 200 <= exact.status_code < 300, (endpoint, exact.get_json())  # the sample request succeeds
        for scope in [s.value for s in Scope if s.rank > Scope(needed).rank]:
            # higher scopes pass too; a repeated change may now find the row gone (404) or rotated (409)
            response = api(method, url, tokens[scope], json=body)
            assert response.status_code in {200, 201, 204, 404, 409}, (endpoint, scope, response.get_json())


def test_another_tenants_ids_are_404(app, api, issue, scoped):
    _admin_a, _tokens_a, ctx_a = scoped
    admin_b = issue(Role.OWNER, "admin")
    seen = 0
    for endpoint, method, url, body in _api_cases(app, ctx_a):
        if not any(isinstance(v, int) and f"/{v}/" in url + "/" for k, v in ctx_a.items() if k != "member_id"):
            continue
        problem_of(api(method, url, admin_b.secret, json=body), 404, "not_found")
        seen += 1
    assert seen == 11  # show, revoke, rotate a token; delete a rule; show, change a member, reset their second
    # factor; end a session; show, revoke, resend an invite
    assert {_db_token(v).status() for k, v in ctx_a.items() if "token_id" in k} == {"active"}
    assert db.session.get(PermissionRule, ctx_a["rule_id"]).deleted_at is None
    problem_of(api("post", "/api/v1/permissions/check", admin_b.secret,
                   json={"user_id": ctx_a["member_id"], "action": "tokens.view"}), 404, "not_found")
    assert api("post", "/api/v1/tokens/introspect", admin_b.secret,
               json={"token": ctx_a["target_secret"]}).get_json() == {"active": False}
    listed = api("get", f"{TOKENS}?owner_id={_admin_a.user.id}", admin_b.secret).get_json()
    assert listed["items"] == [] and listed["total"] == 0
    body = problem_of(api("post", RULES, admin_b.secret, json=SAMPLE_BODIES["permissions_api.create_rule"](ctx_a)),
                      404, "not_found")
    assert body["field"] == "user_id"
    rules = api("get", RULES, admin_b.secret).get_json()
    assert rules["total"] == 0


# ---------------------------------------------------------------- /me


def test_me(api, issue):
    issued = issue(Role.MANAGER, "write")
    response = api("get", ME, issued.secret)
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"] == {"id": issued.user.id, "email": issued.user.email, "name": issued.user.name}
    assert body["tenant"] == {"id": issued.tenant.id, "slug": issued.tenant.slug, "name": issued.tenant.name}
    assert body["role"] == "manager"
    assert body["token"]["id"] == issued.token.id and body["token"]["scope"] == "write"
    assert body["token"]["hint"] == tokencodec.hint(issued.secret)
    assert "digest" not in body["token"] and issued.secret not in response.get_data(as_text=True)


# ---------------------------------------------------------------- list


def test_list_shows_a_member_only_their_own_tokens(api, issue):
    admin = issue(Role.ADMIN, "read", name="admin's")
    member = issue(Role.MEMBER, "read", tenant=admin.tenant, name="member's")
    issue(user=member.user, tenant=admin.tenant, scope="read", name="member's second")
    mine = api("get", TOKENS, member.secret).get_json()
    assert {t["name"] for t in mine["items"]} == {"member's", "member's second"}
    # asking for someone else's tokens changes nothing without tokens.manage
    other = api("get", f"{TOKENS}?owner_id={admin.user.id}", member.secret).get_json()
    assert {t["owner_id"] for t in other["items"]} == {member.user.id}
    everyone = api("get", TOKENS, admin.secret).get_json()
    assert everyone["total"] == 3
    only_member = api("get", f"{TOKENS}?owner_id={member.user.id}", admin.secret).get_json()
    assert {t["name"] for t in only_member["items"]} == {"member's", "member's second"}


def test_list_filters_and_pagination(api, issue):
    admin = issue(Role.ADMIN, "read", name="caller")
    for i in range(4):
        issue(user=admin.user, tenant=admin.tenant, scope="write" if i % 2 else "read", name=f"deploy {i}")
    revoked = issue(user=admin.user, tenant=admin.tenant, scope="admin", name="old")
    services.revoke_token(None, revoked.token, reason="x")
    db.session.commit()
    page = api("get", f"{TOKENS}?per_page=2&page=2", admin.secret).get_json()
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (2, 2, 6, 3)
    assert len(page["items"]) == 2
    ids = [t["id"] for t in api("get", f"{TOKENS}?per_page=100", admin.secret).get_json()["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert {t["name"] for t in api("get", f"{TOKENS}?status=revoked", admin.secret).get_json()["items"]} == {"old"}
    assert len(api("get", f"{TOKENS}?status=active", admin.secret).get_json()["items"]) == 5
    assert {t["name"] for t in api("get", f"{TOKENS}?scope=write", admin.secret).get_json()["items"]} == {
        "deploy 1", "deploy 3"}
    assert {t["name"] for t in api("get", f"{TOKENS}?q=DEPLOY%202", admin.secret).get_json()["items"]} == {
        "deploy 2"}
    assert api("get", f"{TOKENS}?expiring_within_days=365", admin.secret).get_json()["total"] == 5
    for bad in ("status=bogus", "per_page=101", "page=0", "per_page=abc", "scope=root", "unknown=1"):
        body = problem_of(api("get", f"{TOKENS}?{bad}", admin.secret), 422, "request_invalid")
        assert body["errors"], bad


# ---------------------------------------------------------------- create


def test_create_returns_the_secret_once(api, issue):
    caller = issue(Role.MANAGER, "write")
    before = utcnow()
    response = api("post", TOKENS, caller.secret, json={"name": " deploy ", "scope": "read", "rate_limit": 60,
                                                         "ip_allow": ["10.0.0.1/8"], "device_binding": True})
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    secret, token = body["secret"], body["token"]
    assert tokencodec.well_formed(secret, "p") and token["hint"] == tokencodec.hint(secret)
    assert (token["name"], token["scope"], token["status"], token["owner_id"]) == (
        "deploy", "read", "active", caller.user.id)
    assert (token["rate_limit"], token["ip_allow"], token["device_binding"]) == (60, ["10.0.0.0/8"], True)
    expires = _db_token(token["id"]).expires_at
    assert before + timedelta(days=90) <= expires <= utcnow() + timedelta(days=90)  # the default lifetime
    shown = api("get", f"{TOKENS}/{token['id']}", caller.secret)
    listed = api("get", TOKENS, caller.secret)
    assert secret not in shown.get_data(as_text=True) and secret not in listed.get_data(as_text=True)
    assert "secret" not in shown.get_json()
    assert _db_token(token["id"]).digest == crypto().digest(secret)


def test_create_never_gives_more_scope_than_the_owner_may_use(api, issue):
    # a member may use read tokens only, so creating any token (a write route) is already out of scope
    member = issue(Role.MEMBER, "read")
    problem_of(api("post", TOKENS, member.secret, json={"name": "x", "scope": "admin"}), 403, "insufficient_scope")
    manager = issue(Role.MANAGER, "write")
    body = problem_of(api("post", TOKENS, manager.secret, json={"name": "x", "scope": "admin"}), 403,
                      "scope_above_ceiling")
    assert body["field"] == "scope"
    assert api("post", TOKENS, manager.secret, json={"name": "x", "scope": "write"}).status_code == 201
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 3


def test_create_expiry_follows_the_tenant_policy(api, issue):
    caller = issue(Role.ADMIN, "write")
    ok = api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": 365})
    assert ok.status_code == 201
    body = problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": 366}),
                      422, "validation_failed")
    assert body["field"] == "expires_in_days"
    problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": 3651}),
               422, "request_invalid")
    body = problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "no_expiry": True}),
                      409, "conflict")
    assert body["field"] == "expires_in_days"
    services.update_token_policy(Actor(caller.user), caller.tenant, default_days=7, max_days=30,
                                 allow_no_expiry=True, rotation_grace_minutes=60)
    db.session.commit()
    forever = api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "no_expiry": True})
    assert forever.status_code == 201 and forever.get_json()["token"]["expires_at"] is None
    week = api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read"}).get_json()["token"]
    assert _db_token(week["id"]).expires_at <= utcnow() + timedelta(days=7)
    problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": 31}),
               422, "validation_failed")


def test_create_refuses_bad_cidrs_and_limits(api, issue):
    caller = issue(Role.ADMIN, "write")
    body = problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read",
                                                              "ip_deny": ["10.0.0.0/33"]}), 422, "validation_failed")
    assert body["field"] == "ip_deny"
    problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "rate_limit": 0}),
               422, "request_invalid")
    problem_of(api("post", TOKENS, caller.secret, json={"name": "   ", "scope": "read"}), 422, "validation_failed")
    # the name's one check: too long is the same refusal as blank (it was the schema's request_invalid)
    body = problem_of(api("post", TOKENS, caller.secret, json={"name": "x" * 101, "scope": "read"}), 422,
                      "validation_failed")
    assert body["field"] == "name"


# ---------------------------------------------------------------- show and revoke


def test_show_is_own_only_without_manage(api, issue):
    admin = issue(Role.ADMIN, "read")
    member = issue(Role.MEMBER, "read", tenant=admin.tenant)
    assert api("get", f"{TOKENS}/{member.token.id}", member.secret).get_json()["id"] == member.token.id
    problem_of(api("get", f"{TOKENS}/{admin.token.id}", member.secret), 404, "not_found")
    assert api("get", f"{TOKENS}/{member.token.id}", admin.secret).status_code == 200
    problem_of(api("get", f"{TOKENS}/999999", admin.secret), 404, "not_found")


def test_revoke_is_idempotent_and_keeps_the_first_reason(api, issue):
    caller = issue(Role.MANAGER, "write")
    target = issue(user=caller.user, tenant=caller.tenant, scope="read")
    first = api("post", f"{TOKENS}/{target.token.id}/revoke", caller.secret, json={"reason": "lost laptop"})
    assert first.status_code == 200, first.get_json()
    assert (first.get_json()["status"], first.get_json()["revoke_reason"]) == ("revoked", "lost laptop")
    again = api("post", f"{TOKENS}/{target.token.id}/revoke", caller.secret, json={"reason": "other"})
    assert again.status_code == 200
    assert again.get_json()["revoke_reason"] == "lost laptop"
    assert again.get_json()["revoked_at"] == first.get_json()["revoked_at"]
    problem_of(api("get", ME, target.secret), 401, "token_revoked")
    no_reason = issue(user=caller.user, tenant=caller.tenant, scope="read")
    response = api("post", f"{TOKENS}/{no_reason.token.id}/revoke", caller.secret, json={})
    assert response.status_code == 200 and response.get_json()["revoke_reason"] == "manual"
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.revoked")).all()
    assert len(events) == 2 and events[0].actor_user_id == caller.user.id


def test_a_token_can_revoke_itself(api, issue):
    caller = issue(Role.MANAGER, "write")
    assert api("post", f"{TOKENS}/{caller.token.id}/revoke", caller.secret, json={}).status_code == 200
    problem_of(api("get", ME, caller.secret), 401, "token_revoked")


def test_a_member_cannot_revoke_someone_elses_token(api, issue):
    manager = issue(Role.MANAGER, "write")
    other = issue(Role.MANAGER, "read", tenant=manager.tenant)
    problem_of(api("post", f"{TOKENS}/{other.token.id}/revoke", manager.secret, json={}), 404, "not_found")
    assert _db_token(other.token.id).revoked_at is None


# ---------------------------------------------------------------- rotate


def test_rotation_grace_then_chain_revocation(api, issue):
    caller = issue(Role.MANAGER, "write", name="ci")
    response = api("post", f"{TOKENS}/{caller.token.id}/rotate", caller.secret)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    new_secret, new = response.get_json()["secret"], response.get_json()["token"]
    assert new_secret != caller.secret and tokencodec.well_formed(new_secret, "p")
    assert (new["name"], new["scope"], new["status"]) == ("ci", "write", "active")
    old = _db_token(caller.token.id)
    assert (old.status(), old.successor_id, _db_token(new["id"]).chain_id) == ("rotated", new["id"], old.id)
    assert utcnow() + timedelta(minutes=59) < old.grace_until <= utcnow() + timedelta(minutes=60)
    # during the grace period both secrets work
    assert api("get", ME, caller.secret).status_code == 200
    assert api("get", ME, new_secret).get_json()["token"]["id"] == new["id"]
    # rotating the same token twice is refused
    problem_of(api("post", f"{TOKENS}/{caller.token.id}/rotate", new_secret), 409, "conflict")
    # after the grace period the old secret is a leak: the whole chain goes, the successor too
    db.session.execute(update(ApiToken).where(ApiToken.id == old.id).values(grace_until=utcnow() - timedelta(1)))
    db.session.commit()
    body = problem_of(api("get", ME, caller.secret), 401, "token_revoked")
    assert "chain" in body["detail"]
    problem_of(api("get", ME, new_secret), 401, "token_revoked")
    for token_id in (old.id, new["id"]):
        token = _db_token(token_id)
        assert token.status() == "revoked" and token.revoke_reason == "retired secret used after its grace period"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.chain_revoked"))
    assert event.details["revoked"] == 2 and event.outcome == "failure"


def test_rotating_a_successor_keeps_one_chain(api, issue):
    caller = issue(Role.MANAGER, "write")
    second = api("post", f"{TOKENS}/{caller.token.id}/rotate", caller.secret).get_json()
    third = api("post", f"{TOKENS}/{second['token']['id']}/rotate", second["secret"]).get_json()
    chain = {_db_token(i).chain_id for i in (caller.token.id, second["token"]["id"], third["token"]["id"])}
    assert chain == {caller.token.id}
    problem_of(api("post", f"{TOKENS}/{caller.token.id}/rotate", third["secret"]), 409, "conflict")


@pytest.mark.postgres
def test_concurrent_rotations_of_one_token_have_one_winner(app, issue):
    caller = issue(Role.MANAGER, "write")
    target = issue(user=caller.user, tenant=caller.tenant, scope="read")
    n, target_id = 6, target.token.id
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def rotate() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"{TOKENS}/{target_id}/rotate", headers={"Authorization": f"Bearer {caller.secret}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=rotate) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201] + [409] * (n - 1), statuses
    db.session.expire_all()
    chain = db.session.scalars(select(ApiToken).where(ApiToken.chain_id == target_id)).all()
    assert len(chain) == 2 and _db_token(target_id).successor_id == max(t.id for t in chain)


def test_a_revoked_token_cannot_be_rotated(api, issue):
    caller = issue(Role.MANAGER, "write")
    target = issue(user=caller.user, tenant=caller.tenant, scope="read")
    services.revoke_token(None, target.token, reason="x")
    db.session.commit()
    problem_of(api("post", f"{TOKENS}/{target.token.id}/rotate", caller.secret), 409, "conflict")


def test_tokens_of_a_deleted_owner_are_gone_not_500(api, issue):
    admin = issue(Role.ADMIN, "admin")
    member = issue(Role.MEMBER, "read", tenant=admin.tenant)
    member.user.soft_delete()
    db.session.commit()
    problem_of(api("get", ME, member.secret), 401, "invalid_token")
    for method, suffix in (("get", ""), ("post", "/revoke"), ("post", "/rotate")):
        problem_of(api(method, f"{TOKENS}/{member.token.id}{suffix}", admin.secret, json={} if method == "post"
                       else None), 404, "not_found")
    listed = api("get", TOKENS, admin.secret).get_json()
    assert [t["id"] for t in listed["items"]] == [admin.token.id]
    assert api("post", f"{TOKENS}/introspect", admin.secret, json={"token": member.secret}).get_json() == {
        "active": False}
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 2  # nothing was rotated


# ---------------------------------------------------------------- introspect


def test_introspection(api, issue):
    admin = issue(Role.ADMIN, "read")
    live = issue(user=admin.user, tenant=admin.tenant, scope="write")
    url = f"{TOKENS}/introspect"
    body = api("post", url, admin.secret, json={"token": live.secret}).get_json()
    assert body == {"active": True, "scope": "write", "exp": int(live.token.expires_at.timestamp()),
                    "sub": str(admin.user.id), "username": admin.user.email, "tenant": admin.tenant.slug,
                    "token_id": live.token.id}
    rotated = services.rotate_token(None, live.token)
    db.session.commit()
    assert api("post", url, admin.secret, json={"token": live.secret}).get_json()["active"] is True  # in grace
    assert api("post", url, admin.secret, json={"token": rotated.secret}).get_json()["active"] is True
    services.revoke_token(None, _db_token(rotated.token.id), reason="x")
    expired = issue(user=admin.user, tenant=admin.tenant, scope="read")
    expired.token.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    elsewhere = issue(Role.ADMIN, "read")
    for secret in (rotated.secret, expired.secret, elsewhere.secret, "garbage", tokencodec.generate("p"),
                   live.secret[:-1] + ("a" if live.secret[-1] != "a" else "b")):
        assert api("post", url, admin.secret, json={"token": secret}).get_json() == {"active": False}, secret
    member = issue(Role.MEMBER, "read", tenant=admin.tenant)
    problem_of(api("post", url, member.secret, json={"token": live.secret}), 403, "forbidden")


# ---------------------------------------------------------------- permissions API


def test_permission_rules_api(api, issue, create_user):
    admin = issue(Role.ADMIN, "admin")
    member = create_user(tenant=admin.tenant)
    created = api("post", RULES, admin.secret, json={"user_id": member.id, "effect": "deny",
                                                     "target": "tokens.*", "reason": "contractor",
                                                     "expires_at": "2099-01-01T00:00:00Z"})
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert (rule["effect"], rule["target"], rule["scope"], rule["user_id"]) == ("deny", "tokens.*", "tenant",
                                                                               member.id)
    assert rule["expires_at"].startswith("2099-01-01T00:00:00")
    listed = api("get", f"{RULES}?user_id={member.id}", admin.secret).get_json()
    assert [r["id"] for r in listed["items"]] == [rule["id"]] and listed["pages"] == 1
    assert api("get", f"{RULES}?effect=allow", admin.secret).get_json()["total"] == 0
    check = api("post", "/api/v1/permissions/check", admin.secret,
                json={"user_id": member.id, "action": "tokens.view"}).get_json()
    assert check["allowed"] is False and check["rule_id"] == rule["id"] and "contractor" in check["reason"]
    assert check["trace"]
    assert api("delete", f"{RULES}/{rule['id']}", admin.secret).status_code == 204
    problem_of(api("delete", f"{RULES}/{rule['id']}", admin.secret), 404, "not_found")
    check = api("post", "/api/v1/permissions/check", admin.secret,
                json={"user_id": member.id, "action": "tokens.view"}).get_json()
    assert check["allowed"] is True and check["rule_id"] is None


@pytest.mark.parametrize("change, status, code, field", [
    ({"target": "rockets.launch"}, 422, "validation_failed", "target"),
    ({"target": "ab"}, 422, "request_invalid", None),
    ({"effect": "maybe"}, 422, "request_invalid", None),
    ({"expires_at": "2099-01-01T00:00:00"}, 422, "validation_failed", "expires_at"),  # naive: refused
    ({"expires_at": "2000-01-01T00:00:00Z"}, 422, "validation_failed", "expires_at"),  # past
    ({"expires_at": "tomorrow"}, 422, "request_invalid", None),
    ({"resource": "user-1"}, 422, "validation_failed", "resource"),
    ({"scope": "global"}, 403, "forbidden", None),  # operators only
    ({"user_id": 999999}, 404, "not_found", "user_id"),
    ({"reason": ""}, 422, "validation_failed", "reason"),  # the reason's check, as the page and the service
    ({"reason": "   "}, 422, "validation_failed", "reason"),
])
def test_permission_rule_refusals(api, issue, create_user, change, status, code, field):
    admin = issue(Role.ADMIN, "admin")
    member = create_user(tenant=admin.tenant)
    body = {"user_id": member.id, "effect": "allow", "target": "dashboard.view", "reason": "r", **change}
    problem = problem_of(api("post", RULES, admin.secret, json=body), status, code)
    if field:
        assert problem["field"] == field
    if code == "request_invalid":
        assert problem["errors"]
    assert db.session.scalar(select(db.func.count()).select_from(PermissionRule)) == 0


def test_permission_check_refusals(api, issue, create_user):
    admin = issue(Role.ADMIN, "read")
    outsider = create_user()
    url = "/api/v1/permissions/check"
    problem_of(api("post", url, admin.secret, json={"user_id": outsider.id, "action": "tokens.view"}),
               404, "not_found")
    body = problem_of(api("post", url, admin.secret, json={"user_id": admin.user.id, "action": "rockets.launch"}),
                      422, "validation_failed")
    assert body["field"] == "action"
    problem_of(api("post", url, admin.secret, json={"user_id": admin.user.id, "action": "tokens.view",
                                                    "resource": "nope"}), 422, "validation_failed")


# ---------------------------------------------------------------- bodies: only after authentication


@pytest.mark.parametrize("kwargs", [
    {"data": "name=x&scope=read", "content_type": "application/x-www-form-urlencoded"},
    {"data": "name=x", "content_type": "text/plain"},
    {"data": '{"name": "x", "scope": "read"}', "content_type": "text/plain"},
    {"data": "<token/>", "content_type": "application/xml"},
])
def test_a_non_json_body_is_415_after_authentication(api, issue, kwargs):
    caller = issue(Role.ADMIN, "write")
    problem_of(api("post", TOKENS, **kwargs), 401, "invalid_token")  # anonymous: nothing but 401
    problem_of(api("post", TOKENS, "hbx_p_bad", **kwargs), 401, "invalid_token")
    problem_of(api("post", TOKENS, caller.secret, **kwargs), 415, "unsupported_media_type")
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 1


@pytest.mark.parametrize("raw", ['{"name": ', "{'name': 'x'}", "nul", "\xff\xfe"])
def test_malformed_json_is_400_after_authentication(api, issue, raw):
    caller = issue(Role.ADMIN, "write")
    problem_of(api("post", TOKENS, data=raw, content_type="application/json"), 401, "invalid_token")
    problem_of(api("post", TOKENS, caller.secret, data=raw, content_type="application/json"), 400, "malformed_json")


def test_scope_is_checked_before_the_body(api, issue):
    reader = issue(Role.ADMIN, "read")
    problem_of(api("post", TOKENS, reader.secret, data="x", content_type="text/plain"), 403, "insufficient_scope")


@pytest.mark.parametrize("payload, where", [
    ({"name": "x", "scope": "read", "bogus": 1}, "bogus"),          # unknown field
    ({"name": 5, "scope": "read"}, "name"),                          # wrong type
    ({"name": "x", "scope": "read", "expires_in_days": "30"}, "expires_in_days"),  # strict: no coercion
    ({"name": "x", "scope": "read", "no_expiry": "yes"}, "no_expiry"),
    ({"name": "x", "scope": "root"}, "scope"),
    ({"scope": "read"}, "name"),                                     # missing
    ([], None),                                                      # not an object
])
def test_schema_violations_are_422_with_errors(api, issue, payload, where):
    caller = issue(Role.ADMIN, "write")
    body = problem_of(api("post", TOKENS, caller.secret, json=payload), 422, "request_invalid")
    assert body["errors"] and all({"loc", "msg", "type"} <= set(e) for e in body["errors"])
    if where:
        assert any(where in map(str, e["loc"]) for e in body["errors"]), body["errors"]


# ---------------------------------------------------------------- no plaintext secret at rest or in logs


def _windows(secret: str, size: int = 12) -> set[str]:
    body = secret[len("hbx_p_"):-4]  # the hint shows the prefix and the last four characters; nothing else
    return {body[i:i + size] for i in range(len(body) - size + 1)}


def _leaks(haystack: str, secrets: list[str]) -> list[str]:
    return [w for s in secrets for w in _windows(s) if w in haystack]


@pytest.mark.config(TOKEN_USAGE_FLUSH_SECONDS=0)
def test_no_plaintext_secret_in_the_database_or_the_logs(api, issue, caplog):
    for name in (None, "app", "werkzeug", "sqlalchemy.engine"):
        caplog.set_level(logging.DEBUG, logger=name)
    caller = issue(Role.ADMIN, "admin")
    secrets = [caller.secret]
    created = api("post", TOKENS, caller.secret, json={"name": "leak test", "scope": "write"}).get_json()
    secrets.append(created["secret"])
    rotated = api("post", f"{TOKENS}/{created['token']['id']}/rotate", created["secret"]).get_json()
    secrets.append(rotated["secret"])
    assert api("get", ME, rotated["secret"], headers={"User-Agent": "scanner"}).status_code == 200
    assert api("post", f"{TOKENS}/introspect", caller.secret, json={"token": created["secret"]}).status_code == 200
    api("post", f"{TOKENS}/introspect", caller.secret, json={"token": created["secret"][:-1] + "0"})
    api("get", ME, created["secret"][:-1] + "0")  # a typo of a real secret
    api("post", f"{TOKENS}/{rotated['token']['id']}/revoke", caller.secret, json={"reason": "done"})
    api("get", ME, rotated["secret"])  # refused: revoked
    api("post", TOKENS, caller.secret, data=f'{{"name": "{caller.secret}"', content_type="application/json")
    db.session.execute(update(ApiToken).where(ApiToken.id == created["token"]["id"])
                       .values(grace_until=utcnow() - timedelta(1)))
    db.session.commit()
    api("get", ME, created["secret"])  # retired secret: chain revoked
    assert usage.flush() >= 6
    assert len(caplog.records) > 10  # the SQL log was captured too

    dumped = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                dumped.extend(str(value) for value in row if value is not None)
    assert any(tokencodec.hint(created["secret"]) in v for v in dumped)  # the dump really holds the tokens
    assert not any(s in v for s in secrets for v in dumped)
    assert _leaks("\n".join(dumped), secrets) == []
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "api_token" in logged
    assert not any(s in logged for s in secrets) and _leaks(logged, secrets) == []
    details = [str(e.details) for e in db.session.scalars(select(AuditEvent))]
    assert "token.created" in set(db.session.scalars(select(AuditEvent.action)))
    assert _leaks("\n".join(details), secrets) == []
    for secret in secrets:
        token = db.session.scalar(select(ApiToken).where(ApiToken.digest == crypto().digest(secret)))
        assert token is not None and token.hint == tokencodec.hint(secret)
