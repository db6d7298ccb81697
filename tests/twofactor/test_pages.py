"""The person's second factor in the browser's terms: enroll from the page, the second step at sign-in (an app's
code, a recovery code), replays refused, the half-signed-in session held on the second step."""

import re
from html import unescape

import pyotp
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.sessions.models import UserSession
from app.twofactor.models import TotpDevice


def _key(page: str) -> str:
    return re.search(r'id="manual-key">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")


def enroll(client, name="Phone"):
    """Add an app through the pages; returns (secret as the page showed it, recovery codes as shown)."""
    response = client.post("/account/security/apps", {"name": name})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    assert page.headers["Cache-Control"].startswith("no-store")
    secret = _key(page.get_data(as_text=True))
    done = client.post(response.headers["Location"], {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    codes_page = client.get(done.headers["Location"]).get_data(as_text=True)
    codes = re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", codes_page)
    return secret, codes


def test_enroll_then_sign_in_with_a_code_then_a_recovery_code(client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    secret, codes = enroll(client)
    assert len(codes) == 10
    assert "is never shown again" not in client.get("/account/security/recovery-codes").get_data(as_text=True)
    device = db.session.scalar(select(TotpDevice))
    assert secret not in device.secret  # sealed
    auth.logout()
    with time_machine.travel(device.last_used_at.timestamp() + 40, tick=False):
        response = auth.login(user)
        assert response.headers["Location"].endswith("/auth/2fa")
        assert client.get(f"/t/{tenant.slug}/").headers["Location"].endswith("/auth/2fa")
        assert client.get("/account").headers["Location"].endswith("/auth/2fa")
        assert client.get("/account/security").headers["Location"].endswith("/auth/2fa")
        code = pyotp.TOTP(secret).now()
        wrong = client.post("/auth/2fa", {"method": "totp", "code": "000000" if code != "000000" else "111111"})
        assert wrong.status_code == 401 and "That code is not right" in wrong.get_data(as_text=True)
        ok = client.post("/auth/2fa", {"method": "totp", "code": code})
        assert ok.status_code == 302
        assert client.get(f"/t/{tenant.slug}/").status_code == 200
        auth.logout()
        auth.login(user)
        replay = client.post("/auth/2fa", {"method": "totp", "code": code})
        assert replay.status_code == 401 and "used already" in replay.get_data(as_text=True)
        assert client.post("/auth/2fa", {"method": "recovery", "code": codes[0].lower()}).status_code == 302
        assert client.get(f"/t/{tenant.slug}/").status_code == 200


def test_the_second_step_renews_the_session_id(client, make_client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    secret, _codes = enroll(client)
    auth.logout()
    device = db.session.scalar(select(TotpDevice))
    with time_machine.travel(device.last_used_at.timestamp() + 40, tick=False):
        auth.login(user)
        half = db.session.scalar(select(UserSession.digest).where(UserSession.ended_at.is_(None)))
        client.post("/auth/2fa", {"method": "totp", "code": pyotp.TOTP(secret).now()})
        db.session.expire_all()
        row = db.session.scalar(select(UserSession).where(UserSession.ended_at.is_(None)))
        assert row.stage is None and row.digest != half


def test_the_enrollment_page_shows_a_qr_code_of_the_same_key(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    response = client.post("/account/security/apps", {"name": "Phone"})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<svg" in page and 'viewBox="' in page
    assert unescape(_key(page))


def test_the_second_step_speaks_the_persons_language(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    enroll(client)
    client.post("/account", {"name": user.name, "locale": "pt_BR", "timezone": ""})
    auth.logout()
    auth.login(user)
    page = client.get("/auth/2fa").get_data(as_text=True)
    assert 'lang="pt-BR"' in page or 'lang="pt_BR"' in page
    assert "Verificação em duas etapas" in page and "Usar um código de recuperação" in page


def test_someone_elses_app_cannot_be_removed(client, make_client, auth, member_of, create_user):
    user, tenant = member_of()
    other = create_user(tenant=tenant)
    auth.login(user)
    enroll(client)
    device = db.session.scalar(select(TotpDevice))
    theirs = make_client()
    auth.login(other, client=theirs)
    refused = theirs.post(f"/account/security/apps/{device.id}/remove", {}, follow_redirects=True)
    assert "No such authenticator app." in refused.get_data(as_text=True)
    assert theirs.get(f"/account/security/apps/{device.id}/remove").status_code == 302
    assert db.session.get(TotpDevice, device.id) is not None
