"""What a new user tripped over on the two-step pages, kept fixed: an emailed code whatever the browser's
language; a recovery code typed on a full keyboard; a code of the wrong shape is said so and not counted; a
recovery code used says how many are left; the downloaded codes say what they are; two proof fields, two ids."""

import re
from datetime import timedelta
from urllib.parse import unquote

import time_machine

from app.extensions import db
from app.users.models import Role
from tests.twofactor.test_pages import enroll


def test_an_emailed_code_is_sent_whatever_the_browsers_language(client, auth, member_of):
    member, tenant = member_of(Role.MEMBER)
    tenant.twofa_required_roles, tenant.twofa_email_codes = "member", True
    db.session.commit()
    auth.login(member)
    for language in ("en-US", "pt-BR,pt;q=0.9", "de-DE"):
        sent = client.post("/auth/2fa/send", {}, headers={"Accept-Language": language}, follow_redirects=True)
        body = sent.get_data(as_text=True).lower()
        assert sent.status_code == 200 and ("we sent a code" in body or "enviamos um código" in body), language


def test_a_misshapen_code_is_said_so_and_not_counted(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    auth.logout()
    auth.login(user)
    letters = client.post("/auth/2fa", {"method": "totp", "code": "abc"})
    assert letters.status_code == 422 and "Type the 6 digits" in letters.get_data(as_text=True)
    short = client.post("/auth/2fa", {"method": "recovery", "code": "ABCD"})
    assert short.status_code == 422 and "16 letters and digits" in short.get_data(as_text=True)
    db.session.expire_all()
    assert (user.profile.twofa_failures, user.profile.twofa_failure_streak) == (0, 0)


def test_the_recovery_code_field_gets_a_full_keyboard(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    auth.logout()
    auth.login(user)
    recovery = client.get("/auth/2fa?method=recovery").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="code"[^>]*>', recovery).group(0)
    assert 'inputmode="text"' in field and "one-time-code" not in field
    app_code = re.search(r'<input[^>]*id="code"[^>]*>', client.get("/auth/2fa").get_data(as_text=True)).group(0)
    assert 'inputmode="numeric"' in app_code and 'autocomplete="one-time-code"' in app_code


def test_a_used_recovery_code_says_how_many_are_left(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    _secret, codes = enroll(client)
    auth.logout()
    auth.login(user)
    landed = client.post("/auth/2fa", {"method": "recovery", "code": codes[0]}, follow_redirects=True)
    assert "You used a recovery code; 9 are left." in landed.get_data(as_text=True)


def test_downloaded_codes_say_whose_they_are_and_proof_fields_have_their_own_ids(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    client.post("/account/security/apps", {"name": "Phone"})  # an enrollment in progress
    _secret, _codes = enroll(client, name="Tablet")
    response = client.post("/account/security/recovery-codes", {})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    text = unquote(re.search(r'href="data:text/plain;charset=utf-8,([^"]+)"', page).group(1))
    assert text.startswith(f"Hubx Access recovery codes for {user.email}, made ")
    with time_machine.travel(timedelta(minutes=20)):
        security = client.get("/account/security").get_data(as_text=True)
    assert 'id="add-proof"' in security and 'id="codes-proof"' in security and 'id="proof"' not in security
