"""The public POST /api/v1/invites/validate: no token, one neutral answer for every invalid code, the role and
tenant name for a valid one, nothing changed by looking, no query for a malformed code and one for a well-formed
one, strict JSON, a rate limit per address."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core import tokencodec
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import codes, services
from app.invites.models import Invite
from app.users.models import Role
from tests.invites.helpers import actor
from tests.tokens.helpers import problem_of, recorded_sql

URL = "/api/v1/invites/validate"
INVALID = {"valid": False}


@pytest.fixture
def admin(member_of, create_tenant):
    return member_of(Role.ADMIN, tenant=create_tenant(name="Acme Ünïcode ✓", invite_daily_limit=50))


def _issue(user, tenant, now=None, **kwargs):
    kwargs.setdefault("role", Role.MEMBER)
    invite, code = services.issue(actor(user), tenant, now=now or utcnow(), **kwargs)
    db.session.commit()
    return invite, code


def _ask(api, code, **kwargs):
    response = api("POST", URL, json={"code": code}, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def _row(invite_id: int) -> tuple:
    db.session.expire_all()
    invite = db.session.scalar(select(Invite).where(Invite.id == invite_id).execution_options(all_tenants=True))
    return (invite.status, invite.uses, invite.digest, invite.hint, invite.expires_at, invite.updated_at,
            invite.accepted_at, invite.revoked_at)


def test_a_valid_code_gives_the_role_and_the_tenants_name_only(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant, role=Role.MANAGER)
    assert _ask(api, code) == {"valid": True, "role": "manager", "tenant": "Acme Ünïcode ✓"}
    assert _ask(api, f"  {code}\n") == {"valid": True, "role": "manager", "tenant": "Acme Ünïcode ✓"}  # pasted


def test_a_link_with_seats_left_is_valid(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant, kind="link", max_uses=3, needs_approval=True)
    assert _ask(api, code)["valid"] is True


def _flipped(code: str) -> str:
    """The code with one character of its body mistyped (the checksum no longer matches)."""
    i = 10
    return code[:i] + ("A" if code[i] != "A" else "B") + code[i + 1:]


def test_every_invalid_code_gets_the_same_answer(api, admin, create_user, member_of):
    user, tenant = admin
    _, good = _issue(user, tenant)
    _, expired = _issue(user, tenant, now=utcnow() - timedelta(hours=73))
    revoked_invite, revoked = _issue(user, tenant)
    services.revoke(actor(user), tenant, revoked_invite.id, now=utcnow())
    _, used = _issue(user, tenant)
    services.accept(used, create_user("joined@example.com"), utcnow())
    _, full = _issue(user, tenant, kind="link", max_uses=1)
    services.accept(full, create_user("first@example.com"), utcnow())
    resent_invite, resent_old = _issue(user, tenant)
    services.resend(actor(user), tenant, resent_invite.id, now=utcnow())
    other_user, gone_tenant = member_of(Role.ADMIN)
    _, of_a_deleted_tenant = _issue(other_user, gone_tenant)
    gone_tenant.deleted_at = utcnow()
    db.session.commit()
    unknown = tokencodec.generate("i")  # well formed, never issued
    token_kind = tokencodec.generate("p")  # an API token's format: another kind
    cases = {"expired": expired, "revoked": revoked, "used": used, "link full": full, "resent": resent_old,
             "deleted tenant": of_a_deleted_tenant, "unknown": unknown, "other kind": token_kind,
             "mistyped": _flipped(good), "truncated": good[:-1], "empty": "", "garbage": "hello",
             "NUL-free long": "x" * 200}
    answers = {name: api("POST", URL, json={"code": code}) for name, code in cases.items()}
    for name, response in answers.items():
        assert response.status_code == 200 and response.get_json() == INVALID, name
    bodies = {response.get_data() for response in answers.values()}
    assert len(bodies) == 1  # byte for byte the same answer
    assert _ask(api, good)["valid"] is True


def test_looking_changes_nothing(api, admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant)
    before = _row(invite.id)
    for _ in range(3):
        assert _ask(api, code)["valid"] is True
    assert _row(invite.id) == before
    assert services.accept(code, create_user("later@example.com"), utcnow()) is not None  # still acceptable


def test_a_malformed_code_costs_no_query_and_a_well_formed_one_one(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant)
    with recorded_sql() as statements:
        for bad in ("hello", _flipped(code), code[:-1], "hbx_i_" + "0" * 36):
            assert _ask(api, bad) == INVALID
    assert statements == []
    with recorded_sql() as statements:
        assert _ask(api, code)["valid"] is True
    assert len(statements) == 1 and "invite" in statements[0] and "tenant" in statements[0]
    with recorded_sql() as statements:
        assert _ask(api, tokencodec.generate(codes.KIND)) == INVALID  # well formed, unknown: the one query
    assert len(statements) == 1


def test_no_token_is_needed_and_a_token_changes_nothing(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant)
    assert _ask(api, code)["valid"] is True
    assert _ask(api, code, headers={"Authorization": "Bearer hbx_p_not-a-token"})["valid"] is True


def test_the_answer_sets_no_cookie_and_is_not_cached(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant)
    response = api("POST", URL, json={"code": code})
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("body, content_type, status, code", [
    ("{", "application/json", 400, "malformed_json"),
    ("[" * 5000 + "]" * 5000, "application/json", 400, "malformed_json"),
    ('{"code": "x"}', "text/plain", 415, "unsupported_media_type"),
    ("code=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ('{"code": 5}', "application/json", 422, "request_invalid"),
    ('{"code": null}', "application/json", 422, "request_invalid"),
    ('{"code": ["hbx_i_x"]}', "application/json", 422, "request_invalid"),
    ('{"code": {"a": 1}}', "application/json", 422, "request_invalid"),
    ("{}", "application/json", 422, "request_invalid"),
    ("[]", "application/json", 422, "request_invalid"),
    ('"hbx_i_x"', "application/json", 422, "request_invalid"),
    ('{"code": "x", "tenant": 1}', "application/json", 422, "request_invalid"),
    ('{"code": "' + "x" * 10_240 + '"}', "application/json", 422, "request_invalid"),
    ('{"code": "hbx\\u0000"}', "application/json", 422, "invalid_characters"),
    ('{"code": "\\ud800"}', "application/json", 422, "invalid_characters"),
])
def test_a_bad_body_is_a_problem(client, body, content_type, status, code):
    response = client.open("post", URL, data=body, content_type=content_type)
    problem_of(response, status, code)


@pytest.mark.config(INVITE_VALIDATE_RATE_LIMIT="3 per minute")
def test_checks_are_limited_per_address(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant)
    here = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(3):
        assert _ask(api, code, environ_base=here)["valid"] is True
    response = api("POST", URL, json={"code": code}, environ_base=here)
    problem = problem_of(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) >= 1 and "valid" not in problem
    # malformed checks count too (no free probing), and another address is not held back
    problem_of(api("POST", URL, json={"code": "x"}, environ_base=here), 429, "rate_limited")
    assert _ask(api, code, environ_base={"REMOTE_ADDR": "198.51.100.8"})["valid"] is True


@pytest.mark.config(INVITE_VALIDATE_RATE_LIMIT="2 per minute", REDIS_URL="redis://127.0.0.1:1/0")
def test_with_redis_down_the_limit_counts_in_memory(api, admin):
    user, tenant = admin
    _, code = _issue(user, tenant)
    statuses = [api("POST", URL, json={"code": code}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # never unlimited, never a server error


@pytest.mark.redis
@pytest.mark.config(INVITE_VALIDATE_RATE_LIMIT="2 per minute", REDIS_URL=os.environ.get("TEST_REDIS_URL", ""))
def test_the_limit_counts_in_redis(api, admin):
    from redis import Redis

    redis = Redis.from_url(os.environ["TEST_REDIS_URL"])
    redis.flushdb()
    user, tenant = admin
    _, code = _issue(user, tenant)
    statuses = [api("POST", URL, json={"code": code}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    keys = [k.decode() for k in redis.keys("*")]
    assert any("invite-validate" in k for k in keys) and not any(code in k for k in keys)
