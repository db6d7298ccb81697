"""Sign-in rules below the pages: lock, status, timeouts, rate limits, concurrent failures."""

import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth.services import FailureReason, authenticate
from app.core.mixins import utcnow
from app.extensions import db
from app.users.models import Profile, UserStatus
from tests.conftest import PASSWORD

META = {"ip": "198.51.100.7", "user_agent": "pytest", "request_id": "r1"}


def test_locked_user_is_refused_even_with_the_right_password(create_user):
    user = create_user()
    user.profile.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert authenticate(user.email, PASSWORD, **META).reason == FailureReason.LOCKED


def test_expired_lock_no_longer_applies(create_user):
    user = create_user()
    user.profile.locked_until = utcnow() - timedelta(seconds=1)
    user.profile.failed_login_count = 3
    db.session.commit()
    result = authenticate(user.email.upper(), PASSWORD, **META)
    assert result.ok and result.user.profile.failed_login_count == 0


@pytest.mark.parametrize("status", [UserStatus.PENDING, UserStatus.BLOCKED, UserStatus.INACTIVE])
def test_only_active_users_sign_in(create_user, status):
    user = create_user(status=status)
    assert authenticate(user.email, PASSWORD, **META).reason == FailureReason.NOT_ACTIVE


@pytest.mark.parametrize("key,age", [("seen_at", timedelta(minutes=31)), ("auth_at", timedelta(hours=13))])
def test_idle_and_absolute_timeouts(client, auth, member_of, key, age):
    user, tenant = member_of()
    auth.login(user)
    with client.raw.session_transaction() as session:
        session[key] = (utcnow() - age).timestamp()
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


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
    assert "Too many requests" in body
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
    email, threads_n = user.email, 10
    barrier = threading.Barrier(threads_n)

    def attempt():
        with app.app_context():
            barrier.wait()
            authenticate(email, "wrong password!!", **META)
            db.session.commit()

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert db.session.scalar(select(Profile.failed_login_count).where(Profile.user_id == user.id)) == threads_n
