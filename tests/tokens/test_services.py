"""Token services the API tests do not reach: CIDR parsing, limits, the tenant policy, list filters,
usage per day and the expiry sweep."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.errors import Conflict, Forbidden, ValidationFailed
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens import ceiling, services
from app.tokens.models import ApiToken, Scope, TokenPolicy, TokenUsageLog
from app.users.models import Role


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- parse_cidrs


def test_parse_cidrs_normalises_sorts_and_dedupes():
    assert services.parse_cidrs(None, "ip_allow") == []
    assert services.parse_cidrs("", "ip_allow") == []
    assert services.parse_cidrs(["10.1.2.3/8", " 10.0.0.0/8 ", "192.0.2.7", "2001:DB8::1/32", ""], "ip_allow") == [
        "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert services.parse_cidrs("10.0.0.0/8, 192.0.2.0/24\n::1\r\n", "ip_deny") == [
        "10.0.0.0/8", "192.0.2.0/24", "::1/128"]


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "300.1.1.1", "example.com", "10.0.0.0/8/8", "::g", "1.2.3.4 5"])
def test_parse_cidrs_refuses_what_is_not_an_address(bad):
    with pytest.raises(ValidationFailed) as info:
        services.parse_cidrs([bad], "ip_deny")
    assert info.value.field == "ip_deny"


def test_parse_cidrs_caps_the_list():
    ok = [f"10.0.{i}.0/24" for i in range(services.MAX_CIDRS)]
    assert len(services.parse_cidrs(ok, "ip_allow")) == services.MAX_CIDRS
    with pytest.raises(ValidationFailed) as info:
        services.parse_cidrs([*ok, "10.1.0.0/24"], "ip_allow")
    assert info.value.field == "ip_allow"


def test_an_overlong_bad_value_is_cut_in_the_message():
    with pytest.raises(ValidationFailed) as info:
        services.parse_cidrs(["x" * 500], "ip_allow")
    assert len(str(info.value)) < 200


# ---------------------------------------------------------------- create and scope ceiling


@pytest.mark.parametrize("role, highest", [(Role.MEMBER, Scope.READ), (Role.MANAGER, Scope.WRITE),
                                           (Role.ADMIN, Scope.ADMIN), (Role.OWNER, Scope.ADMIN)])
def test_highest_scope_follows_the_role(member_of, role, highest):
    user, tenant = member_of(role)
    assert ceiling.highest_scope(user, tenant) == highest
    for scope in Scope:
        if scope.covers(highest) and scope != highest:
            with pytest.raises(Forbidden) as info:
                services.create_token(None, tenant, user, name="x", scope=scope.value)
            assert info.value.field == "scope"


def test_a_non_member_may_not_have_a_token(member_of, create_user):
    _, tenant = member_of(Role.OWNER)
    outsider = create_user()
    assert ceiling.highest_scope(outsider, tenant) is None
    with pytest.raises(Forbidden):
        services.create_token(None, tenant, outsider, name="x", scope="read")


@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 101}, "name"),
    ({"scope": "root"}, "scope"), ({"rate_limit": 0}, "rate_limit"), ({"rate_limit": 100_001}, "rate_limit"),
    ({"expires_in_days": 0}, "expires_in_days"), ({"expires_in_days": 366}, "expires_in_days"),
    ({"ip_allow": "nope"}, "ip_allow"),
])
def test_create_validation(member_of, kwargs, field):
    user, tenant = member_of(Role.ADMIN)
    args = {"name": "x", "scope": "read", **kwargs}
    with pytest.raises(ValidationFailed) as info:
        services.create_token(None, tenant, user, **args)
    assert info.value.field == field
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 0


def test_no_expiry_against_the_tenant_policy_is_a_conflict(member_of):
    # well-formed input the tenant's policy (state, not the request) refuses: 409, on the field it concerns
    user, tenant = member_of(Role.ADMIN)
    with pytest.raises(Conflict) as info:
        services.create_token(None, tenant, user, name="x", scope="read", no_expiry=True)
    assert info.value.field == "expires_in_days"
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 0


def test_create_records_who_and_audits_without_the_secret(member_of):
    admin, tenant = member_of(Role.ADMIN)
    issued = services.create_token(Actor(admin, ip="192.0.2.1"), tenant, admin, name="ci", scope="write",
                                   ip_allow="10.0.0.0/8")
    db.session.commit()
    token = issued.token
    assert (token.created_by_id, token.chain_id, token.ip_allow, token.status()) == (
        admin.id, token.id, ["10.0.0.0/8"], "active")
    event = _events("token.created")[0]
    assert event.actor_user_id == admin.id and event.ip == "192.0.2.1"
    assert event.details["hint"] == token.hint and issued.secret not in str(event.details)
    by_command = services.create_token(None, tenant, admin, name="cli", scope="read")
    assert by_command.token.created_by_id is None


# ---------------------------------------------------------------- update_limits


def test_update_limits(member_of):
    admin, tenant = member_of(Role.ADMIN)
    token = services.create_token(None, tenant, admin, name="x", scope="read", device_binding=True).token
    token.device_digest = "d" * 64
    db.session.commit()
    services.update_limits(Actor(admin), token, rate_limit=10, ip_allow="10.0.0.0/8\n192.0.2.1",
                           ip_deny=["10.9.0.0/16"], device_binding=None)
    db.session.commit()
    assert (token.rate_limit, token.ip_allow, token.ip_deny) == (10, ["10.0.0.0/8", "192.0.2.1/32"],
                                                                 ["10.9.0.0/16"])
    assert token.device_binding is True and token.device_digest == "d" * 64  # None leaves binding alone
    event = _events("token.limits_changed")[0]
    assert event.details["before"]["rate_limit"] is None and event.details["after"]["rate_limit"] == 10
    # turning binding off forgets the bound client, so turning it on again binds afresh
    services.update_limits(Actor(admin), token, rate_limit=None, ip_allow=None, ip_deny=None, device_binding=False)
    assert (token.rate_limit, token.ip_allow, token.ip_deny, token.device_digest) == (None, [], [], None)
    # no change, no event
    services.update_limits(Actor(admin), token, rate_limit=None, ip_allow=[], ip_deny="", device_binding=False)
    assert len(_events("token.limits_changed")) == 2


@pytest.mark.parametrize("kwargs, field", [({"rate_limit": 0}, "rate_limit"), ({"ip_allow": ["x"]}, "ip_allow"),
                                           ({"ip_deny": "1.2.3.4/40"}, "ip_deny")])
def test_update_limits_validation(member_of, kwargs, field):
    admin, tenant = member_of(Role.ADMIN)
    token = services.create_token(None, tenant, admin, name="x", scope="read").token
    args = {"rate_limit": None, "ip_allow": None, "ip_deny": None, **kwargs}
    with pytest.raises(ValidationFailed) as info:
        services.update_limits(Actor(admin), token, **args)
    assert info.value.field == field


# ---------------------------------------------------------------- token policy


def test_token_policy_defaults_without_a_row(create_tenant):
    tenant = create_tenant()
    policy = services.token_policy(tenant.id)
    assert (policy.default_days, policy.max_days, policy.allow_no_expiry, policy.rotation_grace_minutes) == (
        90, 365, False, 60)
    assert db.session.get(TokenPolicy, tenant.id) is None  # reading does not write


@pytest.mark.parametrize("kwargs, field", [
    ({"max_days": 0}, "max_days"), ({"max_days": 3651}, "max_days"),
    ({"default_days": 0}, "default_days"), ({"default_days": 31, "max_days": 30}, "default_days"),
    ({"rotation_grace_minutes": -1}, "rotation_grace_minutes"),
    ({"rotation_grace_minutes": 7 * 24 * 60 + 1}, "rotation_grace_minutes"),
])
def test_token_policy_update_validation(member_of, kwargs, field):
    owner, tenant = member_of(Role.OWNER)
    args = {"default_days": 30, "max_days": 60, "allow_no_expiry": False, "rotation_grace_minutes": 10, **kwargs}
    with pytest.raises(ValidationFailed) as info:
        services.update_token_policy(Actor(owner), tenant, **args)
    assert info.value.field == field
    db.session.rollback()
    assert db.session.get(TokenPolicy, tenant.id) is None


def test_token_policy_update_is_stored_and_audited_once(member_of):
    owner, tenant = member_of(Role.OWNER)
    args = {"default_days": 7, "max_days": 3650, "allow_no_expiry": True, "rotation_grace_minutes": 0}
    services.update_token_policy(Actor(owner), tenant, **args)
    services.update_token_policy(Actor(owner), tenant, **args)  # the same again: no second event
    db.session.commit()
    policy = db.session.get(TokenPolicy, tenant.id)
    assert (policy.default_days, policy.max_days, policy.allow_no_expiry, policy.rotation_grace_minutes) == (
        7, 3650, True, 0)
    events = _events("token.policy_changed")
    assert len(events) == 1 and events[0].details["after"]["max_days"] == 3650
    # grace 0: a rotated secret stops at once (using it then revokes the chain)
    token = services.create_token(None, tenant, owner, name="x", scope="read").token
    services.rotate_token(None, token)
    assert token.status() == "retired"


# ---------------------------------------------------------------- list_tokens


@pytest.fixture
def zoo(member_of, create_user):
    """A tenant with one token in each state."""
    admin, tenant = member_of(Role.ADMIN)
    member = create_user("zed@example.com", tenant=tenant)

    def make(name, owner=admin, scope="read", **kwargs):
        return services.create_token(None, tenant, owner, name=name, scope=scope, **kwargs).token

    active = make("active one", scope="admin")
    expiring = make("soon", expires_in_days=3)
    expired = make("expired")
    expired.expires_at = utcnow() - timedelta(hours=1)
    revoked = make("revoked")
    services.revoke_token(None, revoked, reason="x")
    rotated = make("rotated")
    successor = services.rotate_token(None, rotated).token
    retired = make("retired")
    retired_successor = services.rotate_token(None, retired).token
    retired.grace_until = utcnow() - timedelta(minutes=1)
    members = make("member's", owner=member)
    db.session.commit()
    tokens = {"active": active, "expiring": expiring, "expired": expired, "revoked": revoked, "rotated": rotated,
              "successor": successor, "retired": retired, "retired_successor": retired_successor,
              "member": members}
    return tenant, admin, member, tokens


def _names(page) -> set[str]:
    return {t.name for t in page.items}


def test_list_tokens_status_filters(zoo):
    tenant, _, _, tokens = zoo
    status_of = {key: token.status() for key, token in tokens.items()}
    assert status_of == {"active": "active", "expiring": "active", "expired": "expired", "revoked": "revoked",
                         "rotated": "rotated", "successor": "active", "retired": "retired",
                         "retired_successor": "active", "member": "active"}

    def ids(status):
        return {t.id for t in services.list_tokens(tenant, status=status, per_page=100).items}

    t = {k: v.id for k, v in tokens.items()}
    assert ids("active") == {t["active"], t["expiring"], t["successor"], t["retired_successor"], t["member"]}
    assert t["rotated"] in ids("rotated") and not ids("rotated") & ids("active")
    assert ids("rotated") == {t["rotated"]} and ids("retired") == {t["retired"]}  # as token_status() says
    assert ids("revoked") == {t["revoked"]}
    assert ids("expired") == {t["expired"]}
    assert len(ids(None)) == len(tokens) == services.list_tokens(tenant).total
    assert ids("bogus") == ids(None)  # an unknown status filters nothing (the API refuses it earlier)


def test_list_tokens_other_filters_and_pages(zoo, member_of):
    tenant, admin, member, tokens = zoo
    other_tenant_admin, other = member_of(Role.ADMIN)
    services.create_token(None, other, other_tenant_admin, name="elsewhere", scope="read")
    db.session.commit()
    assert _names(services.list_tokens(tenant, owner_id=member.id)) == {"member's"}
    assert _names(services.list_tokens(tenant, scope="admin")) == {"active one"}
    assert services.list_tokens(tenant, scope="nonsense").total == len(tokens)
    assert _names(services.list_tokens(tenant, search="ZED@")) == {"member's"}  # by owner email
    assert _names(services.list_tokens(tenant, search="SOON")) == {"soon"}
    assert _names(services.list_tokens(tenant, search=tokens["revoked"].hint)) == {"revoked"}
    within = services.list_tokens(tenant, expiring_within_days=7)
    assert _names(within) == {"soon"}
    first = services.list_tokens(tenant, page=1, per_page=3)
    last = services.list_tokens(tenant, page=3, per_page=3)
    assert (first.total, first.pages, len(first.items), len(last.items)) == (9, 3, 3, 3)
    assert [t.id for t in first.items] == sorted((t.id for t in first.items), reverse=True)
    assert services.list_tokens(tenant, page=0).page == 1
    assert "elsewhere" not in _names(services.list_tokens(tenant, per_page=100))


def test_get_token_is_tenant_and_owner_bound(zoo, member_of):
    tenant, admin, member, tokens = zoo
    other_admin, other = member_of(Role.ADMIN)
    from app.core.errors import NotFound

    assert services.get_token(tenant, tokens["member"].id, viewer=member).id == tokens["member"].id
    with pytest.raises(NotFound):
        services.get_token(tenant, tokens["active"].id, viewer=member)
    assert services.get_token(tenant, tokens["active"].id, viewer=member, manage=True)
    with pytest.raises(NotFound):
        services.get_token(other, tokens["active"].id, viewer=other_admin, manage=True)


# ---------------------------------------------------------------- usage per day


def test_usage_per_day_is_zero_filled_oldest_first(member_of):
    admin, tenant = member_of(Role.ADMIN)
    token = services.create_token(None, tenant, admin, name="x", scope="read").token
    other = services.create_token(None, tenant, admin, name="y", scope="read").token
    today = date(2030, 6, 15)

    def at(day: date, hour: int = 12) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=utcnow().tzinfo)

    def log(when, outcome="ok", token_id=token.id):
        db.session.add(TokenUsageLog(tenant_id=tenant.id, token_id=token_id, occurred_at=when, endpoint="GET /x",
                                     outcome=outcome, status=200 if outcome == "ok" else 403, correlation_id="c"))

    log(at(today, 0)), log(at(today, 23)), log(at(today - timedelta(days=2)))
    log(at(today - timedelta(days=29), 0))                    # first day of the window
    log(at(today - timedelta(days=30), 23))                   # the day before: outside
    log(at(today), outcome="ip_denied")                      # refusals are not uses
    log(at(today), token_id=other.id)                        # another token
    db.session.commit()
    days = services.usage_per_day(token, today=today)
    assert len(days) == 30 and days[0][0] == today - timedelta(days=29) and days[-1][0] == today
    counts = dict(days)
    assert counts[today] == 2 and counts[today - timedelta(days=2)] == 1
    assert counts[today - timedelta(days=29)] == 1 and sum(counts.values()) == 4
    assert [n for _, n in services.usage_per_day(token, 3, today=today)] == [1, 0, 2]
    assert services.usage_per_day(token, 7, today=today + timedelta(days=100)) == [
        (today + timedelta(days=94 + i), 0) for i in range(7)]
    assert [r.outcome for r in services.recent_usage(token, limit=2)] in (["ok", "ok"], ["ok", "ip_denied"],
                                                                           ["ip_denied", "ok"])


# ---------------------------------------------------------------- revoke_expired


def test_revoke_expired_marks_only_expired_live_tokens(member_of):
    admin_a, tenant_a = member_of(Role.ADMIN)
    admin_b, tenant_b = member_of(Role.ADMIN)
    services.update_token_policy(Actor(admin_a), tenant_a, default_days=30, max_days=30, allow_no_expiry=True,
                                 rotation_grace_minutes=60)

    def make(tenant, owner, **kwargs):
        return services.create_token(None, tenant, owner, name="x", scope="read", **kwargs).token

    old_a, old_b, live, forever, gone = (make(tenant_a, admin_a), make(tenant_b, admin_b), make(tenant_a, admin_a),
                                         make(tenant_a, admin_a, no_expiry=True), make(tenant_b, admin_b))
    for token in (old_a, old_b, gone):
        token.expires_at = utcnow() - timedelta(minutes=5)
    services.revoke_token(None, gone, reason="leaked")
    db.session.commit()
    assert services.revoke_expired() == 2  # across tenants
    db.session.commit()
    assert [(t.status(), t.revoke_reason) for t in (old_a, old_b, live, forever, gone)] == [
        ("revoked", "expired"), ("revoked", "expired"), ("active", None), ("active", None), ("revoked", "leaked")]
    assert old_a.revoked_by_id is None
    assert {e.target_id for e in _events("token.revoked")} == {str(old_a.id), str(old_b.id), str(gone.id)}
    assert services.revoke_expired() == 0  # idempotent
    later = utcnow() + timedelta(days=31)
    assert services.revoke_expired(now=later) == 1 and live.revoke_reason == "expired"
    assert forever.revoked_at is None
