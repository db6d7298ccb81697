"""Bearer authentication of /api/v1: every refusal with its problem code, status and headers, IP rules behind
proxies, device binding (incl. a race on PostgreSQL), the per-token rate limit, scope bounded by the owner's
rights, the once-a-minute last_used write and the usage log with encrypted columns."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update

from app.api.auth import DEVICE_HEADER
from app.core import tokencodec
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.services import create_rule
from app.tokens import services, usage
from app.tokens.models import ApiToken, TokenUsageLog
from app.users.models import Membership, Role, UserStatus
from tests.tokens.helpers import problem_of, recorded_sql

ME = "/api/v1/me"


def _refresh(token: ApiToken) -> ApiToken:
    db.session.expire_all()
    return db.session.get(ApiToken, token.id)


def _challenge(response) -> str:
    return response.headers.get("WWW-Authenticate", "")


# ---------------------------------------------------------------- the Authorization header


def test_missing_header_is_401_with_a_bare_bearer_challenge(api):
    response = api("get", ME)
    problem_of(response, 401, "invalid_token")
    # RFC 6750 3.1: a request without credentials gets the challenge, without an error code
    assert _challenge(response) == 'Bearer realm="hubx"'


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token {secret}", "{secret}", "Bearer", "Bearer ",
                                    "Bearer  {secret} extra", "Digest {secret}"])
def test_wrong_scheme_or_shape_is_401(api, issue, header):
    issued = issue()
    response = api("get", ME, headers={"Authorization": header.format(secret=issued.secret)})
    problem_of(response, 401, "invalid_token")
    assert _challenge(response).startswith('Bearer realm="hubx"')


def test_scheme_is_case_insensitive(api, issue):
    issued = issue()
    assert api("get", ME, headers={"Authorization": f"bearer {issued.secret}"}).status_code == 200
    assert api("get", ME, headers={"Authorization": f"BEARER {issued.secret}"}).status_code == 200


def _typo(secret: str) -> str:
    i = 10
    return secret[:i] + ("a" if secret[i] != "a" else "b") + secret[i + 1:]


@pytest.mark.parametrize("make", [
    lambda s: "not-a-token",
    lambda s: s[:-1],                      # too short
    lambda s: s + "0",                     # too long
    lambda s: s.replace("hbx_p_", "hbx_q_"),  # another kind
    _typo,                                 # bad checksum
    lambda s: s[:-6] + ("000000" if s[-6:] != "000000" else "000001"),
], ids=["junk", "short", "long", "kind", "typo", "checksum"])
def test_malformed_or_mistyped_token_is_refused_without_any_query(api, issue, make):
    issued = issue()
    bad = make(issued.secret)
    assert not tokencodec.well_formed(bad, "p")
    with recorded_sql() as statements:
        response = api("get", ME, bad)
    problem_of(response, 401, "invalid_token")
    assert 'error="invalid_token"' in _challenge(response)
    assert statements == []  # not a single query for this request
    assert not any("api_token" in s for s in statements)


def test_the_query_counter_sees_the_lookup_of_a_well_formed_token(api):
    unknown = tokencodec.generate("p")
    with recorded_sql() as statements:
        response = api("get", ME, unknown)
    body = problem_of(response, 401, "invalid_token")
    assert "secret" not in body and unknown not in response.get_data(as_text=True)
    assert any("api_token" in s for s in statements)  # one indexed lookup by digest, then nothing


# ---------------------------------------------------------------- token state


def test_expired_token_is_401_token_expired(api, issue):
    issued = issue()
    issued.token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = api("get", ME, issued.secret)
    problem_of(response, 401, "token_expired")
    assert 'error="invalid_token"' in _challenge(response) and "token_expired" in _challenge(response)


def test_revoked_token_is_401_token_revoked(api, issue):
    issued = issue()
    assert api("get", ME, issued.secret).status_code == 200
    services.revoke_token(None, issued.token, reason="leaked")
    db.session.commit()
    response = api("get", ME, issued.secret)
    problem_of(response, 401, "token_revoked")
    assert "token_revoked" in _challenge(response)


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.INACTIVE, UserStatus.PENDING])
def test_owner_not_active_is_401_owner_inactive(api, issue, status):
    issued = issue()
    assert api("get", ME, issued.secret).status_code == 200
    issued.user.profile.status = status
    db.session.commit()  # the database bumps the owner's policy version (migration 0004): no code has to
    problem_of(api("get", ME, issued.secret), 401, "owner_inactive")


def test_a_sign_in_lock_does_not_stop_the_owners_tokens(api, issue):
    # failed passwords from anyone lock the sign-in page, not the owner's scripts (docs/decisions.md)
    issued = issue()
    issued.user.profile.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert api("get", ME, issued.secret).status_code == 200


@pytest.mark.parametrize("how", ["soft", "hard"])
def test_owner_removed_from_the_tenant_is_401(api, issue, how):
    issued = issue()
    assert api("get", ME, issued.secret).status_code == 200  # the policy is now cached
    membership = db.session.scalar(select(Membership).where(Membership.user_id == issued.user.id))
    if how == "soft":
        membership.soft_delete()
    else:
        db.session.delete(membership)
    db.session.commit()
    body = problem_of(api("get", ME, issued.secret), 401, "owner_inactive")
    assert "no longer a member" in body["detail"]


def test_owner_soft_deleted_is_401(api, issue):
    issued = issue()
    issued.user.soft_delete()
    db.session.commit()
    problem_of(api("get", ME, issued.secret), 401, "invalid_token")


def test_tenant_soft_deleted_is_401(api, issue):
    issued = issue()
    issued.tenant.soft_delete()
    db.session.commit()
    problem_of(api("get", ME, issued.secret), 401, "invalid_token")
    issued.tenant.restore()
    db.session.commit()
    assert api("get", ME, issued.secret).status_code == 200


# ---------------------------------------------------------------- IP rules


@pytest.mark.parametrize("address, allowed", [
    ("10.2.3.4", True),            # in the allow list
    ("10.1.2.3", False),           # in the allow list, but denied: deny wins
    ("192.168.1.1", False),        # outside the allow list
    ("2001:db8::1", True),
    ("2001:db8:bad::1", False),    # deny wins for IPv6 too
    ("::1", False),
    ("::ffff:10.2.3.4", True),     # IPv4 client on a dual-stack socket
    ("::ffff:10.1.2.3", False),    # ... is still denied
])
def test_ip_allow_and_deny_lists(api, issue, address, allowed):
    issued = issue(ip_allow=["10.0.0.0/8", "2001:db8::/32"], ip_deny=["10.1.0.0/16", "2001:db8:bad::/48"])
    response = api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": address})
    if allowed:
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        problem_of(response, 403, "ip_denied")


def test_deny_list_alone_leaves_everything_else_open(api, issue):
    issued = issue(ip_deny=["203.0.113.0/24"])
    assert api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 200
    problem_of(api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": "203.0.113.9"}), 403, "ip_denied")


def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(api, issue):
    allow_only = issue(ip_allow=["203.0.113.0/24"])
    spoof = {"X-Forwarded-For": "203.0.113.5"}
    response = api("get", ME, allow_only.secret, headers=spoof, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    problem_of(response, 403, "ip_denied")
    denied = issue(ip_deny=["198.51.100.0/24"])
    response = api("get", ME, denied.secret, headers=spoof, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    problem_of(response, 403, "ip_denied")
    assert api("get", ME, allow_only.secret, environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 200


@pytest.mark.config(TRUSTED_PROXY_COUNT=1)
def test_forwarded_for_is_honoured_only_at_the_trusted_hop(api, issue):
    issued = issue(ip_allow=["203.0.113.0/24"])
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    # the proxy appended the real client: honoured
    ok = api("get", ME, issued.secret, headers={"X-Forwarded-For": "203.0.113.5"}, environ_base=proxy)
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert _refresh(issued.token).last_used_ip == "203.0.113.5"
    # the client put an allowed address first; the proxy appended its real one: the spoof is ignored
    spoofed = api("get", ME, issued.secret, headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.7"},
                  environ_base=proxy)
    problem_of(spoofed, 403, "ip_denied")
    # no header at all: the socket peer (the proxy) is the address
    problem_of(api("get", ME, issued.secret, environ_base=proxy), 403, "ip_denied")


# ---------------------------------------------------------------- device binding


def test_device_binding_first_client_wins(api, issue):
    issued = issue(device_binding=True)
    problem_of(api("get", ME, issued.secret), 403, "device_mismatch")  # no header: refused, binds nothing
    assert _refresh(issued.token).device_digest is None
    assert api("get", ME, issued.secret, headers={DEVICE_HEADER: "laptop-1"}).status_code == 200
    token = _refresh(issued.token)
    assert token.device_digest == crypto().digest("device:laptop-1")  # an HMAC, never the identifier
    problem_of(api("get", ME, issued.secret, headers={DEVICE_HEADER: "phone-2"}), 403, "device_mismatch")
    problem_of(api("get", ME, issued.secret), 403, "device_mismatch")
    assert api("get", ME, issued.secret, headers={DEVICE_HEADER: "laptop-1"}).status_code == 200


@pytest.mark.parametrize("first_call", [
    ("get", "/api/v1/tokens/999999", None),                          # the view answers 404
    ("post", "/api/v1/tokens", {"name": "x", "scope": "read", "expires_in_days": 9999}),  # 422 from the schema
    ("post", "/api/v1/tokens", {"name": "x", "scope": "read", "ip_allow": ["bad"]}),      # 422 from the field check
])
def test_the_first_binding_and_last_use_survive_a_refusal_by_the_view(api, issue, first_call):
    issued = issue(device_binding=True)
    method, path, body = first_call
    response = api(method, path, issued.secret, json=body, headers={DEVICE_HEADER: "legit"})
    assert response.status_code in {404, 422}
    token = _refresh(issued.token)
    assert token.device_digest == crypto().digest("device:legit") and token.last_used_at is not None
    problem_of(api("get", ME, issued.secret, headers={DEVICE_HEADER: "attacker"}), 403, "device_mismatch")
    assert api("get", ME, issued.secret, headers={DEVICE_HEADER: "legit"}).status_code == 200
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 1  # the view's work is undone


def test_tokens_without_binding_ignore_the_device_header(api, issue):
    issued = issue()
    assert api("get", ME, issued.secret, headers={DEVICE_HEADER: "a"}).status_code == 200
    assert api("get", ME, issued.secret, headers={DEVICE_HEADER: "b"}).status_code == 200
    assert _refresh(issued.token).device_digest is None


@pytest.mark.postgres
def test_device_binding_race_has_exactly_one_winner(app, issue):
    issued = issue(device_binding=True)
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    statuses: dict[int, int] = {}

    def first_use(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.get(ME, headers={"Authorization": f"Bearer {issued.secret}", DEVICE_HEADER: f"dev-{i}"})
        statuses[i] = response.status_code

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses.values()) == [200] + [403] * (threads_n - 1), statuses
    winner = next(i for i, s in statuses.items() if s == 200)
    assert _refresh(issued.token).device_digest == crypto().digest(f"device:dev-{winner}")


# ---------------------------------------------------------------- per-token rate limit


def test_rate_limit_is_429_with_retry_after(api, issue):
    issued = issue(rate_limit=2)
    other = issue(user=issued.user, tenant=issued.tenant, rate_limit=2)
    assert api("get", ME, issued.secret).status_code == 200
    assert api("get", ME, issued.secret).status_code == 200
    response = api("get", ME, issued.secret)
    problem_of(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert api("get", ME, other.secret).status_code == 200  # per token, not per owner


def test_rate_limit_counts_per_rotation_chain(api, issue):
    issued = issue(rate_limit=3)
    successor = services.rotate_token(None, issued.token)
    db.session.commit()
    assert api("get", ME, issued.secret).status_code == 200   # old secret, in grace
    assert api("get", ME, successor.secret).status_code == 200
    assert api("get", ME, issued.secret).status_code == 200
    problem_of(api("get", ME, successor.secret), 429, "rate_limited")  # rotation does not reset the count


# ---------------------------------------------------------------- scope and the owner's rights


def test_insufficient_scope_is_403_with_a_challenge(api, issue):
    issued = issue(scope="read")
    response = api("post", "/api/v1/tokens", issued.secret, json={"name": "x", "scope": "read"})
    body = problem_of(response, 403, "insufficient_scope")
    assert "write" in body["detail"]
    assert _challenge(response) == 'Bearer realm="hubx", error="insufficient_scope"'


def test_a_demoted_owner_loses_the_scope_the_token_was_given(api, issue):
    issued = issue(Role.ADMIN, "admin")
    admin_route = "/api/v1/permissions/rules/999999"
    problem_of(api("delete", admin_route, issued.secret), 404, "not_found")  # allowed, the rule is missing
    membership = db.session.scalar(select(Membership).where(Membership.user_id == issued.user.id))
    membership.role = Role.MANAGER
    db.session.commit()
    problem_of(api("delete", admin_route, issued.secret), 403, "insufficient_scope")
    assert api("get", ME, issued.secret).status_code == 200  # read is still within the manager's rights


def test_a_deny_rule_on_the_permission_is_403(api, issue):
    issued = issue(Role.ADMIN, "read")
    assert api("get", "/api/v1/tokens", issued.secret).status_code == 200
    create_rule(Actor(issued.user), issued.tenant, user_id=issued.user.id, effect="deny", target="tokens.view",
                reason="audit freeze")
    db.session.commit()
    body = problem_of(api("get", "/api/v1/tokens", issued.secret), 403, "forbidden")
    assert "audit freeze" in body["detail"]
    assert "WWW-Authenticate" not in api("get", "/api/v1/tokens", issued.secret).headers


def test_a_deny_rule_on_the_api_scope_is_insufficient_scope(api, issue):
    issued = issue(Role.OWNER, "read")
    create_rule(Actor(issued.user), issued.tenant, user_id=issued.user.id, effect="deny", target="api.read",
                reason="no API for now")
    db.session.commit()
    problem_of(api("get", ME, issued.secret), 403, "insufficient_scope")


# ---------------------------------------------------------------- last use


def test_last_used_is_written_at_most_once_a_minute(api, issue):
    issued = issue()
    before = utcnow()
    with recorded_sql() as statements:
        assert api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200
        assert api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": "198.51.100.5"}).status_code == 200
    touches = [s for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKEN") and "last_used_at" in s]
    assert len(touches) == 1, touches
    token = _refresh(issued.token)
    first = token.last_used_at
    assert before <= first <= utcnow()
    assert token.last_used_ip == "198.51.100.4"
    raw = db.session.execute(text("SELECT last_used_ip FROM api_token WHERE id = :id"), {"id": token.id}).scalar()
    assert raw != "198.51.100.4" and "198.51.100" not in raw and crypto().decrypt(raw) == "198.51.100.4"
    # a minute later (the clock is moved by moving the stored time back)
    db.session.execute(update(ApiToken).where(ApiToken.id == token.id)
                       .values(last_used_at=first - timedelta(seconds=61)))
    db.session.commit()
    with recorded_sql() as statements:
        assert api("get", ME, issued.secret, environ_base={"REMOTE_ADDR": "198.51.100.6"}).status_code == 200
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKEN")]) == 1
    token = _refresh(issued.token)
    assert token.last_used_at >= first and token.last_used_ip == "198.51.100.6"


# ---------------------------------------------------------------- usage log


@pytest.mark.config(TOKEN_USAGE_FLUSH_SECONDS=0)  # no writer thread: this test flushes by hand
def test_usage_rows_carry_outcomes_and_encrypted_client_data(api, issue):
    issued = issue(Role.ADMIN, "read")
    ua = {"User-Agent": "hubx-cli/1.2 (ci)"}
    ok = api("get", ME, issued.secret, headers=ua)
    assert ok.status_code == 200
    assert api("post", "/api/v1/tokens", issued.secret, json={}, headers=ua).status_code == 403
    assert api("get", "/api/v1/tokens/999999", issued.secret, headers=ua).status_code == 404
    api("get", ME, "hbx_p_nonsense", headers=ua)  # no token: nothing to log against
    services.revoke_token(None, issued.token, reason="test")
    db.session.commit()
    assert api("get", ME, issued.secret, headers=ua).status_code == 401
    assert db.session.scalar(select(db.func.count()).select_from(TokenUsageLog)) == 0  # buffered, not written
    assert usage.flush() == 4
    rows = db.session.scalars(select(TokenUsageLog).order_by(TokenUsageLog.id)).all()
    assert [(r.endpoint, r.outcome, r.status) for r in rows] == [
        ("GET /api/v1/me", "ok", 200),
        ("POST /api/v1/tokens", "insufficient_scope", 403),
        ("GET /api/v1/tokens/999999", "not_found", 404),
        ("GET /api/v1/me", "token_revoked", 401),
    ]
    assert {r.token_id for r in rows} == {issued.token.id} and {r.tenant_id for r in rows} == {issued.tenant.id}
    assert rows[0].correlation_id == ok.headers["X-Request-ID"]
    assert {(r.ip, r.user_agent) for r in rows} == {("127.0.0.1", "hubx-cli/1.2 (ci)")}
    for ip, agent in db.session.execute(text("SELECT ip, user_agent FROM token_usage_log")):
        assert ip.startswith("gAAAAA") and agent.startswith("gAAAAA")  # Fernet tokens at rest
        assert "127.0.0.1" not in ip and "hubx-cli" not in agent
        assert crypto().decrypt(ip) == "127.0.0.1" and crypto().decrypt(agent) == "hubx-cli/1.2 (ci)"


@pytest.mark.config(TOKEN_USAGE_FLUSH_SECONDS=0)
def test_usage_of_refusals_before_the_view(api, issue):
    denied = issue(ip_deny=["127.0.0.0/8"])
    bound = issue(device_binding=True)
    limited = issue(rate_limit=1)
    api("get", ME, denied.secret)
    api("get", ME, bound.secret)
    api("get", ME, limited.secret)
    api("get", ME, limited.secret)
    usage.flush()
    outcomes = {(r.token_id, r.outcome, r.status) for r in db.session.scalars(select(TokenUsageLog))}
    assert outcomes == {(denied.token.id, "ip_denied", 403), (bound.token.id, "device_mismatch", 403),
                        (limited.token.id, "ok", 200), (limited.token.id, "rate_limited", 429)}
    db.session.execute(delete(TokenUsageLog))
    db.session.commit()


@pytest.mark.config(TOKEN_USAGE_FLUSH_SECONDS=0)
def test_a_deleted_token_does_not_wedge_the_usage_writer(api, issue):
    gone, kept = issue(), issue()
    assert api("get", ME, gone.secret).status_code == 200
    assert api("get", ME, kept.secret).status_code == 200
    db.session.execute(delete(ApiToken).where(ApiToken.id == gone.token.id))  # e.g. the retention purge
    db.session.commit()
    buffer = usage.buffer()
    assert usage.flush() == 1  # the live token's row is written, the orphan dropped, not retried forever
    assert buffer.rows == [] and buffer.dropped == 1
    assert [r.token_id for r in db.session.scalars(select(TokenUsageLog))] == [kept.token.id]
    assert api("get", ME, kept.secret).status_code == 200
    assert usage.flush() == 1


# ---------------------------------------------------------------- the owner's state, one row per request


def test_a_request_with_a_cached_policy_sends_one_statement(api, issue):
    """The check reads the token and its owner's policy version in one indexed row read; the rest of the
    owner's state comes from the cached policy that version vouches for."""
    issued = issue(Role.MEMBER, "read")
    assert api("get", ME, issued.secret).status_code == 200  # compiles the policy, writes the last use
    with recorded_sql() as statements:
        assert api("get", ME, issued.secret).status_code == 200
    assert len(statements) == 1, statements
    assert "FROM api_token" in statements[0] and "policy_version" in statements[0]


@pytest.mark.parametrize(("change", "code"), [
    ("UPDATE profile SET status = 'blocked' WHERE user_id = :user", "owner_inactive"),
    ("UPDATE membership SET deleted_at = :now WHERE user_id = :user", "owner_inactive"),
    ("DELETE FROM membership WHERE user_id = :user", "owner_inactive"),
    ("UPDATE user_account SET deleted_at = :now WHERE id = :user", "invalid_token"),
    ("UPDATE tenant SET deleted_at = :now WHERE id = :tenant", "invalid_token"),
], ids=["blocked", "membership-soft-deleted", "membership-deleted", "user-deleted", "tenant-deleted"])
def test_a_change_made_behind_the_apps_back_stops_the_token_on_the_next_request(api, issue, change, code):
    """Plain SQL, as an operator at a database prompt would run it: no application code bumps anything, the
    database's triggers do, so a cached policy never outlives the facts it was built from."""
    issued = issue(Role.MEMBER, "read")
    assert api("get", ME, issued.secret).status_code == 200  # the policy is now cached
    db.session.execute(text(change), {"user": issued.user.id, "tenant": issued.tenant.id, "now": utcnow(),
                                      "later": utcnow() + timedelta(hours=1)})
    db.session.commit()
    problem_of(api("get", ME, issued.secret), 401, code)


def test_me_shows_a_renamed_tenant_and_owner_at_once(api, issue):
    issued = issue(Role.MEMBER, "read")
    assert api("get", ME, issued.secret).get_json()["tenant"]["name"] == issued.tenant.name
    db.session.execute(text("UPDATE tenant SET name = 'Renamed' WHERE id = :t"), {"t": issued.tenant.id})
    db.session.execute(text("UPDATE user_account SET name = 'New Name' WHERE id = :u"), {"u": issued.user.id})
    db.session.commit()
    body = api("get", ME, issued.secret).get_json()
    assert body["tenant"]["name"] == "Renamed" and body["user"]["name"] == "New Name"


def test_a_batch_encrypts_each_token_and_value_once(api, issue):
    """The writer seals a repeated address or agent once per token per batch; what lands decrypts the same."""
    first, second = issue(Role.MEMBER, "read"), issue(Role.MEMBER, "read")
    for issued in (first, first, first, second):
        assert api("get", ME, issued.secret, headers={"User-Agent": "agent/1"}).status_code == 200
    assert usage.flush() == 4
    rows = db.session.execute(text("SELECT token_id, ip, user_agent FROM token_usage_log ORDER BY id")).all()
    by_token = {}
    for token_id, ip, agent in rows:
        by_token.setdefault(token_id, set()).add((ip, agent))
        assert crypto().decrypt(ip) == "127.0.0.1" and crypto().decrypt(agent) == "agent/1"
    assert len(by_token[first.token.id]) == 1  # one ciphertext for the three rows of one token
    assert by_token[first.token.id] != by_token[second.token.id]  # another token: encrypted again


@pytest.mark.config(TOKEN_USAGE_FLUSH_SECONDS=0)  # no writer thread: it would clear the event it waits on
def test_the_writer_wakes_when_a_batch_is_full(app):
    buffer = usage.buffer()
    buffer.wake.clear()
    row = {"token_id": 1, "tenant_id": 1, "endpoint": "GET /", "outcome": "ok", "status": 200,
           "correlation_id": "c", "ip": "127.0.0.1", "user_agent": ""}
    for _ in range(usage.BATCH_ROWS - 1):
        buffer.add(dict(row))
    assert not buffer.wake.is_set()
    buffer.add(dict(row))
    assert buffer.wake.is_set()
    with buffer.lock:
        buffer.rows.clear()  # rows of a token that does not exist: not for the database


def test_the_writer_stores_times_as_the_orm_does(api, issue):
    """The writer binds its values itself: its rows must read, sort and compare like any other row's."""
    issued = issue(Role.MEMBER, "read")
    at = utcnow().replace(microsecond=0)  # the case where a naive format would drop the fraction
    usage.record(token_id=issued.token.id, tenant_id=issued.tenant.id, endpoint="GET /x", outcome="ok", status=200,
                 correlation_id="by-writer", ip="192.0.2.1", user_agent="a", at=at)
    assert usage.flush() == 1
    db.session.add(TokenUsageLog(token_id=issued.token.id, tenant_id=issued.tenant.id, occurred_at=at,
                                 endpoint="GET /x", outcome="ok", status=200, correlation_id="by-orm",
                                 ip="192.0.2.1", user_agent="a"))
    db.session.commit()
    raw = dict(db.session.execute(text("SELECT correlation_id, occurred_at FROM token_usage_log")).all())
    assert raw["by-writer"] == raw["by-orm"]
    stamps = db.session.execute(text("SELECT created_at, updated_at FROM token_usage_log "
                                     "WHERE correlation_id = 'by-writer'")).one()
    assert stamps == (raw["by-orm"], raw["by-orm"])


def test_at_exit_the_writer_finishes_its_batch_before_the_last_flush(app, issue, monkeypatch):
    """A batch the writer thread already took from the buffer must land too, not die with the interpreter."""
    issued = issue(Role.MEMBER, "read")
    buffer = usage.buffer()
    release = threading.Event()
    real_write = buffer._write

    def slow_write(rows):
        release.wait(5)  # the thread holds its batch while exit begins
        return real_write(rows)

    monkeypatch.setattr(buffer, "_write", slow_write)
    monkeypatch.setattr(buffer, "stopping", False)  # restored after the test: the app's writer goes on
    for n in range(3):
        usage.record(token_id=issued.token.id, tenant_id=issued.tenant.id, endpoint="GET /x", outcome="ok",
                     status=200, correlation_id=f"c{n}", ip="192.0.2.1", user_agent="a")
    buffer.wake.set()
    deadline = threading.Event()
    while buffer.rows and not deadline.wait(0.01):
        pass  # the thread has taken the rows
    threading.Timer(0.2, release.set).start()
    usage._flush_quietly(buffer)  # what atexit runs
    assert db.session.scalar(select(db.func.count()).select_from(TokenUsageLog)) == 3
    assert not buffer.thread.is_alive()
