"""The server-side session check: a new id every sign-in, idle and absolute limits on the server (frozen clock),
polling is not activity, a replayed cookie of an ended session is refused, a blocked person's session ends."""

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text

from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.web import POLL_HEADER, SESSION_ID_KEY
from app.users.models import UserStatus


def _sid(client) -> str:
    with client.raw.session_transaction() as session:
        return session[SESSION_ID_KEY]


def _row(client) -> UserSession | None:
    db.session.expire_all()
    return db.session.scalar(select(UserSession).where(UserSession.digest == crypto().digest(_sid(client))))


def _signed_out(response) -> bool:
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_sign_in_stores_only_a_digest_and_a_readable_device(client, auth, member_of):
    user, _tenant = member_of()
    client.raw.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"
    auth.login(user)
    sid = _sid(client)
    assert len(sid) >= 40  # 256 random bits, url-safe
    row = _row(client)
    assert row.user_id == user.id and row.device == "Chrome on Linux" and row.digest != sid
    raw = db.session.execute(text("SELECT ip, user_agent FROM user_session")).one()
    assert "Chrome" not in raw.user_agent and raw.ip != "127.0.0.1"  # encrypted at rest


def test_every_sign_in_gets_a_new_id(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    first = _sid(client)
    auth.logout()
    auth.login(user)
    assert _sid(client) != first
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1  # sign-out deleted the first


def test_a_replayed_cookie_after_sign_out_is_refused(client, make_client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    stolen = _sid(client)
    auth.logout()
    thief = make_client()
    with thief.raw.session_transaction() as session:
        session[SESSION_ID_KEY] = stolen
        session["_user_id"] = str(user.id)
    assert _signed_out(thief.get(f"/t/{tenant.slug}/"))


def test_idle_limit_is_enforced_on_the_server(client, auth, member_of):
    user, tenant = member_of()
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login(user)
        clock.shift(timedelta(minutes=29))
        assert client.get(f"/t/{tenant.slug}/").status_code == 200  # activity: the idle clock restarts
        clock.shift(timedelta(minutes=29))
        assert client.get(f"/t/{tenant.slug}/").status_code == 200
        clock.shift(timedelta(minutes=31))
        assert _signed_out(client.get(f"/t/{tenant.slug}/"))
    row = db.session.scalar(select(UserSession))
    assert row.ended_at is not None and row.end_reason == "idle"


def test_background_polling_does_not_keep_a_session_alive(client, auth, member_of):
    user, tenant = member_of()
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login(user)
        for _ in range(3):
            clock.shift(timedelta(minutes=10))
            assert client.get(f"/t/{tenant.slug}/", headers={POLL_HEADER: "1"}).status_code == 200
        clock.shift(timedelta(minutes=1))  # 31 minutes since the last real click
        assert _signed_out(client.get(f"/t/{tenant.slug}/"))


def test_absolute_limit_holds_whatever_the_activity(client, auth, member_of):
    user, tenant = member_of()
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login(user)
        for _ in range(12 * 3):  # a click every 20 minutes for 12 hours
            clock.shift(timedelta(minutes=20))
            response = client.get(f"/t/{tenant.slug}/")
        assert _signed_out(response)
    assert db.session.scalar(select(UserSession.end_reason)) == "expired"


def test_last_seen_is_written_at_most_once_a_minute(client, auth, member_of):
    user, tenant = member_of()
    with time_machine.travel(utcnow(), tick=False) as clock:
        auth.login(user)
        signed_in = _row(client).last_seen_at
        clock.shift(timedelta(seconds=30))
        client.get(f"/t/{tenant.slug}/")
        assert _row(client).last_seen_at == signed_in  # the tenant was noted; the time not yet
        clock.shift(timedelta(seconds=31))
        client.get(f"/t/{tenant.slug}/")
        assert _row(client).last_seen_at > signed_in and _row(client).tenant_id == tenant.id


@pytest.mark.parametrize("change", ["blocked", "deleted"])
def test_a_blocked_or_deleted_persons_open_session_is_refused(client, auth, member_of, change):
    user, tenant = member_of()
    auth.login(user)
    if change == "blocked":
        user.profile.status = UserStatus.BLOCKED
    else:
        user.soft_delete()
    db.session.commit()
    assert _signed_out(client.get(f"/t/{tenant.slug}/"))


def test_a_forged_or_oversized_cookie_value_signs_no_one_in(client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    for value in ("x" * 5000, "", 12345, None):
        with client.raw.session_transaction() as session:
            session[SESSION_ID_KEY] = value
        assert _signed_out(client.get(f"/t/{tenant.slug}/"))
