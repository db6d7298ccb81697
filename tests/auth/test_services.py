"""Sign-in rules below the pages: lock, status, timeouts, rate limits, concurrent failures."""

import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.services import FailureReason, LockPolicy, authenticate
from app.core.mixins import utcnow
from app.extensions import db
from app.users.models import Profile, UserStatus
from tests.conftest import PASSWORD

META = {"ip": "198.51.100.7", "user_agent": "pytest", "request_id": "r1"}
LOCK = LockPolicy()


def sign_in(email, password=PASSWORD, *, now=None, lock=LOCK, known_browser=None):
    return authenticate(email, password, now=now or utcnow(), lock=lock, known_browser=known_browser, **META)


def test_locked_user_is_refused_even_with_the_right_password(create_user):
    user = create_user()
    user.profile.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert sign_in(user.email).reason == FailureReason.LOCKED


def test_expired_lock_no_longer_applies(create_user):
    user = create_user()
    user.profile.locked_until = utcnow() - timedelta(seconds=1)
    user.profile.failed_login_count = 3
    db.session.commit()
    result = sign_in(user.email.upper())
    assert result.ok and result.user.profile.failed_login_count == 0 and result.user.profile.locked_until is None


@pytest.mark.parametrize("status", [UserStatus.PENDING, UserStatus.BLOCKED, UserStatus.INACTIVE])
def test_only_active_users_sign_in(create_user, status):
    user = create_user(status=status)
    assert sign_in(user.email).reason == FailureReason.NOT_ACTIVE


def test_the_wait_doubles_from_the_threshold_and_is_capped():
    lock = LockPolicy(after=5, base=timedelta(seconds=1), cap=timedelta(minutes=15))
    assert [lock.wait(n) for n in range(5)] == [None] * 5
    assert [lock.wait(n).total_seconds() for n in (5, 6, 7, 10)] == [1, 2, 4, 32]
    assert lock.wait(15) == lock.wait(10_000) == timedelta(minutes=15)


def test_failures_lock_the_account_for_a_growing_wait(create_user):
    user = create_user()
    now = utcnow()
    for _ in range(4):
        assert sign_in(user.email, "wrong password!!", now=now).reason == FailureReason.BAD_PASSWORD
    assert user.profile.locked_until is None
    sign_in(user.email, "wrong password!!", now=now)  # the 5th
    db.session.expire_all()
    assert user.profile.locked_until == now + timedelta(seconds=1)
    later = now + timedelta(seconds=2)
    sign_in(user.email, "wrong password!!", now=later)  # the 6th: 2 s from then
    db.session.expire_all()
    assert user.profile.locked_until == later + timedelta(seconds=2)
    assert sign_in(user.email, now=later).reason == FailureReason.LOCKED  # the right password waits too
    assert sign_in(user.email, now=later + timedelta(seconds=3)).ok
    db.session.expire_all()
    assert user.profile.failed_login_count == 0 and user.profile.locked_until is None
    events = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "auth.account_locked")).all()
    assert len(events) >= 2


def test_a_tenant_may_lock_sooner_but_never_later(create_user, create_tenant):
    strict, lax = create_tenant(lock_after_failures=2), create_tenant(lock_after_failures=50)
    user = create_user(tenant=strict)
    other = create_user(tenant=lax)
    now = utcnow()
    for _ in range(2):
        sign_in(user.email, "wrong password!!", now=now)
    for _ in range(5):
        sign_in(other.email, "wrong password!!", now=now)
    db.session.expire_all()
    assert user.profile.locked_until is not None  # after 2, the tenant's
    assert other.profile.locked_until is not None  # after 5, the platform's: 50 would be looser


def test_a_known_browser_passes_the_lock_with_the_right_password_only(create_user):
    user = create_user()
    user.profile.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    known = lambda candidate: candidate.id == user.id  # noqa: E731
    assert sign_in(user.email, "wrong password!!", known_browser=known).reason == FailureReason.LOCKED
    result = sign_in(user.email, known_browser=known)
    assert result.ok and result.known_browser
    assert sign_in(user.email, known_browser=lambda candidate: False).ok  # the lock was cleared by the success


def test_a_blocked_account_is_not_let_in_by_a_known_browser(create_user):
    user = create_user(status=UserStatus.BLOCKED)
    assert sign_in(user.email, known_browser=lambda candidate: True).reason == FailureReason.NOT_ACTIVE


def test_next_is_followed_only_within_the_site(client, member_of):
    user, tenant = member_of()
    data = {"email": user.email, "password": PASSWORD}
    response = client.post(f"/auth/login?next=/t/{tenant.slug}/", data)
    assert response.headers["Location"] == f"/t/{tenant.slug}/"
    client.post("/auth/logout")
    client.csrf = None
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post(f"/auth/login?next={evil}", data)
        assert response.headers["Location"] == "/", evil
        client.post("/auth/logout")
        client.csrf = None


@pytest.mark.config(LOGIN_RATE_LIMIT="3 per minute")
def test_sign_in_is_rate_limited(client, create_user):
    user = create_user()
    for _ in range(3):
        assert client.post("/auth/login", {"email": user.email, "password": "wrong password!"}).status_code == 401
    response = client.post("/auth/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert retry > 0
    body = response.get_data(as_text=True)
    assert "Too many sign-in attempts from here." in body and 'name="password"' in body  # the form stays
    # the page says how long to wait, as the header does
    wait = f"Try again in {-(-retry // 60)} minutes." if retry >= 120 else f"Try again in {retry} second"
    assert wait in body, body
    assert client.get("/auth/login").status_code == 200  # only POST counts


@pytest.mark.config(LOGIN_RATE_LIMIT="2 per minute", REDIS_URL="redis://127.0.0.1:1/0")
def test_rate_limit_falls_back_to_memory_when_redis_is_down(client, create_user):
    user = create_user()
    codes = [client.post("/auth/login", {"email": user.email, "password": "wrong password!"}).status_code
             for _ in range(3)]
    assert codes == [401, 401, 429]


@pytest.mark.redis
@pytest.mark.config(LOGIN_RATE_LIMIT="2 per minute", REDIS_URL=os.environ.get("TEST_REDIS_URL", ""))
def test_rate_limit_counts_live_in_redis(client, create_user):
    from redis import Redis

    redis = Redis.from_url(os.environ["TEST_REDIS_URL"])
    user = create_user()
    codes = [client.post("/auth/login", {"email": user.email, "password": "wrong password!"}).status_code
             for _ in range(3)]
    assert codes == [401, 401, 429]
    assert any(k.startswith(b"hubx-rl") or b"hubx-rl" in k for k in redis.keys("*"))


@pytest.mark.postgres
def test_concurrent_failures_are_all_counted(app, create_user):
    user = create_user()
    email, threads_n = user.email, 50
    barrier = threading.Barrier(threads_n)

    def attempt():
        with app.app_context():
            barrier.wait()
            sign_in(email, "wrong password!!")
            db.session.commit()

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    profile = db.session.scalar(select(Profile).where(Profile.user_id == user.id))
    assert profile.failed_login_count == threads_n  # every one counted
    # and the lock is the longest any of them set: 2^(50-5) s is past the cap, so the cap
    assert profile.locked_until is not None and profile.locked_until > utcnow() + timedelta(minutes=14)
