"""Password resets and the account page: "forgot password" answers the same for every address; the link works
once, for a limited time, even while the account is locked, and leaves the address bar at once; a reset ends every
session. The account page changes the profile and the password (the current one first, a new session id)."""

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.auth.models import PasswordReset
from app.auth.reset import reset_password
from app.core.mixins import utcnow
from app.extensions import db
from app.mail.models import EmailMessage
from app.sessions.models import UserSession
from app.users.models import Role
from tests.conftest import PASSWORD

NEW = "a fresh long password 42"
META = {"ip": "192.0.2.1", "user_agent": "pytest", "request_id": "r"}


def _mail(kind: str, to: str) -> EmailMessage | None:
    db.session.expire_all()
    return db.session.scalar(select(EmailMessage).where(EmailMessage.kind == kind, EmailMessage.recipient == to)
                             .order_by(EmailMessage.id.desc()))


def _link(message: EmailMessage) -> str:
    return re.search(r"(/auth/reset/[\w-]+)", message.text_body).group(1)


def test_forgot_password_answers_alike_and_mails_only_an_account(client, create_user):
    user = create_user()
    answers = [client.post("/auth/forgot", {"email": email}, follow_redirects=True).get_data(as_text=True)
               for email in (user.email, "nobody-at-all@example.com")]
    assert all("If an account uses that address" in body for body in answers)
    assert _mail("password_reset", user.email) is not None
    assert _mail("password_reset", "nobody-at-all@example.com") is None
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 1
    stored = db.session.scalar(select(PasswordReset.digest))
    assert stored not in _mail("password_reset", user.email).text_body  # only a digest is kept


def test_a_reset_link_works_once_locked_or_not_and_ends_every_session(client, make_client, auth, member_of):
    user, tenant = member_of()
    other = make_client()
    auth.login(user, client=other)
    user.profile.locked_until, user.profile.failed_login_count = utcnow() + timedelta(minutes=15), 200
    db.session.commit()
    client.post("/auth/forgot", {"email": user.email})
    link = _link(_mail("password_reset", user.email))
    opened = client.get(link)
    assert opened.status_code == 302 and opened.headers["Location"] == "/auth/reset"  # the secret leaves the URL
    assert client.get("/auth/reset").status_code == 200
    mismatch = client.post("/auth/reset", {"password": NEW, "confirm": NEW + "x"})
    assert mismatch.status_code == 422 and "The two passwords differ." in mismatch.get_data(as_text=True)
    assert client.post("/auth/reset", {"password": NEW, "confirm": NEW}).status_code == 302
    other_page = other.get(f"/t/{tenant.slug}/")
    assert other_page.status_code == 302 and "/auth/login" in other_page.headers["Location"]
    client.csrf = None
    assert client.post("/auth/login", {"email": user.email, "password": NEW}).status_code == 302  # lock lifted
    auth.logout()
    client.get(link)
    assert "This link has expired or was used already." in client.get("/auth/reset").get_data(as_text=True)


def test_a_reset_link_expires(client, create_user):
    user = create_user()
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.post("/auth/forgot", {"email": user.email})
        clock.shift(timedelta(minutes=31))
        client.get(_link(_mail("password_reset", user.email)))
        assert "has expired" in client.get("/auth/reset").get_data(as_text=True)
        assert client.post("/auth/reset", {"password": NEW, "confirm": NEW}).status_code == 200  # nothing changed
    db.session.expire_all()
    assert user.check_password(PASSWORD)


@pytest.mark.postgres
def test_one_link_used_twice_at_once_changes_the_password_once(app, client, create_user):
    user = create_user()
    client.post("/auth/forgot", {"email": user.email})
    secret = _link(_mail("password_reset", user.email)).rsplit("/", 1)[1]
    results, barrier = [], threading.Barrier(8)

    def use(n: int):
        with app.app_context():
            barrier.wait()
            results.append(reset_password(secret, f"{NEW} number {n}", now=utcnow(), **META) is not None)
            db.session.commit()

    threads = [threading.Thread(target=use, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_the_account_page_changes_profile_and_password(client, make_client, auth, member_of):
    user, tenant = member_of()
    other = make_client()
    auth.login(user, client=other)
    auth.login(user)
    assert client.post("/account", {"name": "Renamed Person", "locale": "pt_BR", "timezone": "Europe/Lisbon"}
                       ).status_code == 302
    db.session.expire_all()
    assert (user.name, user.profile.locale, user.profile.timezone) == ("Renamed Person", "pt_BR", "Europe/Lisbon")
    wrong = client.post("/account/password", {"current": "not it at all", "new": NEW, "confirm": NEW,
                                               "end_others": "y"})
    assert wrong.status_code == 422 and "Esta não é sua senha atual." in wrong.get_data(as_text=True)
    with client.raw.session_transaction() as session:
        before = session["sid"]
    assert client.post("/account/password", {"current": PASSWORD, "new": NEW, "confirm": NEW,
                                              "end_others": "y"}).status_code == 302
    with client.raw.session_transaction() as session:
        assert session["sid"] != before  # a new id for this browser
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    assert "/auth/login" in other.get(f"/t/{tenant.slug}/").headers["Location"]  # the others were signed out
    assert _mail("password_changed", user.email) is not None
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.ended_at.is_(None))) == 1


def test_an_admin_sends_a_reset_link_they_never_see(client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    member = create_user(tenant=tenant)
    auth.login(admin)
    response = client.post(f"/t/{tenant.slug}/users/{member.id}/reset-password", follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "A link to choose a new password was sent to" in body
    message = _mail("password_reset", member.email)
    assert message is not None and _link(message) not in body
