"""The second step's other ways: a tenant that requires an app sends the person to enrollment first; a tenant
that allows codes by email mails one bound to this sign-in; a remembered browser skips the step; the low-codes
warning; the lock and the disabled app say what to do; the step-up before a sensitive change."""

import re
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import func, select

from app.core.ratelimit import limiter
from app.extensions import db
from app.mail.models import EmailMessage
from app.sessions.models import UserSession
from app.twofactor.models import RecoveryCode, TotpDevice
from app.users.models import Role
from tests.conftest import PASSWORD
from tests.twofactor.test_pages import enroll


def _code_mail(to: str) -> str:
    db.session.expire_all()
    message = db.session.scalar(select(EmailMessage).where(EmailMessage.kind == "twofa_code",
                                                           EmailMessage.recipient == to)
                                .order_by(EmailMessage.id.desc()))
    return re.search(r"\b(\d{6,8})\b", message.text_body).group(1)


def _later(device_seconds: int = 40):
    device = db.session.scalar(select(TotpDevice).order_by(TotpDevice.id.desc()))
    return time_machine.travel(device.last_used_at.timestamp() + device_seconds, tick=False)


def test_a_required_role_enrolls_before_anything_else(client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)
    tenant.twofa_required_roles = "owner,admin"
    db.session.commit()
    landing = auth.login(admin)
    assert landing.headers["Location"].endswith("/account/security")
    page = client.get("/account/security").get_data(as_text=True)
    assert "requires two-step sign-in for your role" in page and tenant.name in page
    assert client.get(f"/t/{tenant.slug}/").headers["Location"].endswith("/account/security")
    assert client.get("/account/security/recovery-codes").headers["Location"].endswith("/account/security")
    secret, codes = enroll(client)
    assert len(codes) == 10
    assert client.get(f"/t/{tenant.slug}/").status_code == 200  # enrolled: signed in
    assert db.session.scalar(select(UserSession.stage)) is None


def test_a_member_whose_role_is_not_required_goes_straight_in(client, auth, member_of):
    member, tenant = member_of(Role.MEMBER)
    tenant.twofa_required_roles = "owner,admin"
    db.session.commit()
    assert not auth.login(member).headers["Location"].endswith("/account/security")
    assert client.get(f"/t/{tenant.slug}/").status_code == 200


def test_codes_by_email_are_bound_to_this_sign_in(client, make_client, auth, member_of):
    member, tenant = member_of(Role.MEMBER)
    tenant.twofa_required_roles = "member"
    tenant.twofa_email_codes = True
    db.session.commit()
    assert auth.login(member).headers["Location"].endswith("/auth/2fa")
    page = client.get("/auth/2fa").get_data(as_text=True)
    assert "Email me a code" in page
    assert client.post("/auth/2fa/send", {}).status_code == 302
    code = _code_mail(member.email)
    other = make_client()
    auth.login(member, client=other)
    assert other.post("/auth/2fa", {"method": "email", "code": code}).status_code == 401  # another sign-in's code
    assert client.post("/auth/2fa", {"method": "email", "code": code}).status_code == 302
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    auth.logout()
    auth.login(member)
    assert client.post("/auth/2fa", {"method": "email", "code": code}).status_code == 401  # used once


def test_a_remembered_browser_skips_the_second_step_until_forgotten(client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    secret, _codes = enroll(client)
    auth.logout()
    with _later():
        auth.login(user)
        assert client.post("/auth/2fa", {"method": "totp", "code": pyotp.TOTP(secret).now(),
                                         "remember": "y"}).status_code == 302
        auth.logout()
        assert not auth.login(user).headers["Location"].endswith("/auth/2fa")
        page = client.get("/account/security").get_data(as_text=True)
        assert "this browser" in page
        browser_id = re.search(r"/account/security/browsers/(\d+)/forget", page).group(1)
        assert "Forget this browser?" in client.get(f"/account/security/browsers/{browser_id}/forget").get_data(
            as_text=True)
        assert client.post(f"/account/security/browsers/{browser_id}/forget", {}).status_code == 302
        auth.logout()
        assert auth.login(user).headers["Location"].endswith("/auth/2fa")


def test_recovery_codes_warn_when_few_are_left(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    secret, codes = enroll(client)
    auth.logout()
    for code in codes[:7]:
        limiter.reset()  # seven sign-ins in a row: past the per-address sign-in limit, which is not under test
        auth.login(user)
        response = client.post("/auth/2fa", {"method": "recovery", "code": code})
        assert response.status_code == 302
        auth.logout()
    auth.login(user)
    after = client.post("/auth/2fa", {"method": "recovery", "code": codes[7]}, follow_redirects=True)
    assert "You have 2 recovery codes left" in after.get_data(as_text=True)
    assert 'id="codes-low"' in client.get("/account/security").get_data(as_text=True)


@pytest.mark.config(TWOFA_RATE_LIMIT="100 per minute")  # the lock, not the rate limit, is under test here
def test_ten_wrong_codes_lock_and_a_recovery_code_still_passes(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    secret, codes = enroll(client)
    auth.logout()
    with _later():
        auth.login(user)
        good = pyotp.TOTP(secret).now()
        wrong = "000000" if good != "000000" else "111111"
        for _ in range(10):
            client.post("/auth/2fa", {"method": "totp", "code": wrong})
        locked = client.post("/auth/2fa", {"method": "totp", "code": good})
        assert locked.status_code == 401 and "Too many wrong codes" in locked.get_data(as_text=True)
        assert client.post("/auth/2fa", {"method": "recovery", "code": codes[0]}).status_code == 302
        db.session.expire_all()
        assert (user.profile.twofa_failures, user.profile.twofa_failure_streak) == (10, 0)  # locked tries: no guess


def test_adding_an_app_needs_a_recent_proof(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    secret, _codes = enroll(client)
    with _later(20 * 60):
        page = client.get("/account/security").get_data(as_text=True)
        assert 'name="proof"' in page
        refused = client.post("/account/security/apps", {"name": "Tablet", "proof": "not my password"})
        assert refused.status_code == 422 and "That password or code is not right" in refused.get_data(as_text=True)
        db.session.expire_all()
        assert user.profile.twofa_failures == 1  # counted although the form was refused
        assert client.post("/account/security/apps", {"name": "Tablet", "proof": ""}).status_code == 422
        ok = client.post("/account/security/apps", {"name": "Tablet", "proof": PASSWORD})
        assert ok.status_code == 302
        assert 'name="proof"' not in client.get("/account/security").get_data(as_text=True)  # proved just now


def test_removing_the_last_app_turns_two_step_sign_in_off(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    device = db.session.scalar(select(TotpDevice))
    confirm = client.get(f"/account/security/apps/{device.id}/remove").get_data(as_text=True)
    assert "It is your last app" in confirm
    assert client.post(f"/account/security/apps/{device.id}/remove", {}).status_code == 302
    db.session.expire_all()
    assert user.profile.twofa_enabled_at is None
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    auth.logout()
    assert not auth.login(user).headers["Location"].endswith("/auth/2fa")


def test_new_recovery_codes_replace_the_old_and_show_once(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    _secret, old = enroll(client)
    response = client.post("/account/security/recovery-codes", {})
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert page.headers["Cache-Control"].startswith("no-store")
    new = re.findall(r"<li>([0-9A-Z-]{19})</li>", page.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert 'download="hubx-recovery-codes.txt"' in page.get_data(as_text=True)
    assert client.get(response.headers["Location"]).status_code == 302  # shown once


def test_an_enrollment_lapses_after_ten_minutes(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    response = client.post("/account/security/apps", {"name": "Phone"})
    with time_machine.travel(timedelta(minutes=11)):
        lapsed = client.get(response.headers["Location"], follow_redirects=True)
        assert "This enrollment has ended" in lapsed.get_data(as_text=True)


def test_the_second_step_is_rate_limited_per_address_and_counted(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    auth.logout()
    auth.login(user)
    statuses = [client.post("/auth/2fa", {"method": "recovery", "code": "ABCD-EFGH-JKMN-PQRS"}).status_code
                for _ in range(11)]
    assert statuses[-1] == 429 and set(statuses[:10]) == {401}
    last = client.post("/auth/2fa", {"method": "recovery", "code": "ABCD-EFGH-JKMN-PQRS"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0
    assert "Too many attempts from here" in last.get_data(as_text=True)
    db.session.expire_all()
    assert user.profile.twofa_rate_limited == 2


def test_a_password_reset_never_passes_the_second_step(client, auth, member_of):
    from app.auth.reset import request_reset
    from app.core.mixins import utcnow

    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    auth.logout()
    request_reset(user.email, now=utcnow(), lifetime=timedelta(minutes=30), link=lambda s: f"/auth/reset/{s}",
                  locale="en", ip="192.0.2.1", user_agent="pytest", request_id="r")
    db.session.commit()
    message = db.session.scalar(select(EmailMessage).where(EmailMessage.kind == "password_reset"))
    link = re.search(r"(/auth/reset/[\w-]+)", message.text_body).group(1)
    client.get(link)
    client.csrf = None
    assert client.get("/auth/reset").status_code == 200
    new = "a brand new long password 7"
    done = client.post("/auth/reset", {"password": new, "confirm": new})
    assert done.headers["Location"].endswith("/auth/login")
    assert auth.login(user, password=new).headers["Location"].endswith("/auth/2fa")
