"""Lockout that cannot be turned against a user: failures from many addresses lock the account, and its owner still
gets in from a browser they signed in from before. Every failure looks the same from outside."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.mixins import utcnow
from app.extensions import db
from app.users.models import Profile, UserStatus
from tests.conftest import PASSWORD

WRONG = "not the password at all"


def _from(client, address: str):
    client.raw.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.mark.config(LOGIN_RATE_LIMIT="100 per minute", LOGIN_EMAIL_RATE_LIMIT="5 per minute")
def test_two_hundred_failures_from_fifty_addresses_do_not_keep_the_owner_out(client, make_client, auth, member_of):
    owner, tenant = member_of()
    auth.login(owner)  # the owner's own browser, known from an earlier sign-in
    auth.logout()
    attackers = [_from(make_client(), f"203.0.113.{n}") for n in range(1, 51)]
    codes = [attacker.post("/auth/login", {"email": owner.email, "password": WRONG}).status_code
             for _ in range(4) for attacker in attackers]
    assert len(codes) == 200 and set(codes) == {401}
    db.session.expire_all()
    profile = db.session.scalar(select(Profile).where(Profile.user_id == owner.id))
    assert profile.failed_login_count == 200 and profile.locked_until is not None  # locked, at the cap
    # a stranger's browser, even with the right password, waits
    stranger = _from(make_client(), "198.51.100.99")
    assert stranger.post("/auth/login", {"email": owner.email, "password": PASSWORD}).status_code == 401
    # the owner's browser gets in with the right password, and the counters start again
    client.csrf = None
    response = client.post("/auth/login", {"email": owner.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(Profile.failed_login_count).where(Profile.user_id == owner.id)) == 0


@pytest.mark.config(LOGIN_RATE_LIMIT="100 per minute", LOGIN_EMAIL_RATE_LIMIT="100 per minute")
def test_a_known_browser_mark_ends_with_the_password_it_was_made_with(client, auth, member_of):
    owner, _tenant = member_of()
    auth.login(owner)
    auth.logout()
    owner.set_password("a brand new password!")
    owner.profile.failed_login_count = 9
    owner.profile.locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    client.csrf = None
    refused = client.post("/auth/login", {"email": owner.email, "password": "a brand new password!"})
    assert refused.status_code == 401  # the mark names the old password: this browser is no longer known


@pytest.mark.config(LOGIN_RATE_LIMIT="100 per minute", LOGIN_EMAIL_RATE_LIMIT="2 per minute")
def test_one_address_guessing_one_account_is_throttled_before_it_locks(client, create_user):
    user, other = create_user(), create_user()
    codes = [client.post("/auth/login", {"email": user.email, "password": WRONG}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    assert int(client.post("/auth/login", {"email": user.email, "password": WRONG}).headers["Retry-After"]) > 0
    # the same address may still sign in as someone else
    assert client.post("/auth/login", {"email": other.email, "password": WRONG}).status_code == 401


def _answer(client, email: str, password: str) -> tuple[int, str]:
    response = client.post("/auth/login", {"email": email, "password": password})
    body = response.get_data(as_text=True)
    body = re.sub(r'value="[^"]*"', 'value=""', body)  # CSRF token, form nonce, the typed email
    body = re.sub(r'"X-CSRFToken": "[^"]+"', "", body)
    body = re.sub(r'[nN]once"?[=:] ?"[^"]+"', "", body)  # this response's CSP nonce
    return response.status_code, body.replace(email, "")


@pytest.mark.config(LOGIN_RATE_LIMIT="100 per minute", LOGIN_EMAIL_RATE_LIMIT="100 per minute")
def test_unknown_wrong_locked_and_blocked_answer_alike(client, create_user):
    wrong, locked, blocked = create_user(), create_user(), create_user(status=UserStatus.BLOCKED)
    locked.profile.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    answers = {
        "unknown": _answer(client, "nobody-here@example.com", WRONG),
        "wrong": _answer(client, wrong.email, WRONG),
        "locked": _answer(client, locked.email, PASSWORD),
        "blocked": _answer(client, blocked.email, PASSWORD),
    }
    assert {status for status, _ in answers.values()} == {401}
    assert len({body for _, body in answers.values()}) == 1, "the pages differ"
