"""Two-step sign-in in a real browser, from what the pages show: add an authenticator app by reading the QR code
the enrollment page draws (rasterised by Chromium, decoded with zxing-cpp) and checking it carries the same key
as the text for typing by hand; sign out; sign in with a fresh code; then with a recovery code; then the warning
when few codes are left. The secret is never read from the database."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import time_machine

from app.core.mixins import utcnow
from app.extensions import db
from app.twofactor import recovery
from app.users.models import Role
from tests.e2e.conftest import sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests").expect
zxingcpp = pytest.importorskip("zxingcpp", reason="pip install -e '.[test]' (zxing-cpp) to read QR codes")
Image = pytest.importorskip("PIL.Image", reason="pip install -e '.[test]' (pillow) to read QR codes")


def _read_qr(page) -> str:
    """The text of the QR code on the page, read from its pixels as a phone's camera would."""
    png = page.locator("#qr-code svg").screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found, "no QR code could be read from the enrollment page"
    return found[0].text


def _sign_out(page) -> None:
    page.locator("#user-menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/auth/login"))


def test_enroll_from_the_qr_code_then_sign_in_with_a_code_and_a_recovery_code(page, signed_in):
    user, tenant = signed_in(Role.MEMBER, "me@example.com")
    page.locator("#user-menu").click()
    page.get_by_role("link", name="Two-step sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
    page.get_by_label("Name of the app or device").fill("My phone")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Add “My phone”")
    uri = _read_qr(page)
    assert uri.startswith("otpauth://totp/")
    shown_key = page.locator("#manual-key").inner_text().replace(" ", "")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert secret == shown_key and len(secret) == 32  # the QR code and the typed key are one 160-bit key
    assert "me@example.com" in uri.replace("%40", "@")
    page.get_by_label("The 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", c) for c in codes)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as text").click()
    assert download.value.suggested_filename == "hubx-recovery-codes.txt"
    page.get_by_role("link", name="I have kept them").click()
    expect(page.locator("#twofa-state")).to_have_text("On")
    _sign_out(page)

    # The code used to enroll is spent: sign in half a minute later, with the app's next code.
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=True):
        sign_in(page, user.email)
        expect(page).to_have_url(re.compile(r"/auth/2fa$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Two-step sign-in")
        page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))
        _sign_out(page)

        sign_in(page, user.email)
        page.get_by_role("link", name="Use a recovery code instead").click()
        page.get_by_label("Code").fill(codes[0].lower())
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))
        _sign_out(page)

        for code in codes[1:7]:  # six more spent elsewhere (not a journey of its own): three are left
            assert recovery.use(user.id, code, utcnow())
        db.session.commit()
        sign_in(page, user.email)
        page.get_by_role("link", name="Use a recovery code instead").click()
        page.get_by_label("Code").fill(codes[7])
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("status").first).to_contain_text("You have 2 recovery codes left")
        page.goto("/account/security")
        expect(page.locator("#codes-low")).to_be_visible()


def test_enrolling_on_a_phone_without_javascript(browser, live_server, member_of, create_tenant, page_errors):
    """The enrollment page fits a phone (no sideways scroll, the QR code inside the screen) and works with scripts
    off: the QR code is an image made on the server, the forms are plain forms."""
    from tests.e2e.conftest import PHONE_WIDTH, _finish, _new_page

    user, _tenant = member_of(Role.MEMBER, tenant=create_tenant(default_locale="en"), email="phone@example.com")
    context, pg = _new_page(browser, live_server, page_errors, java_script_enabled=False,
                            viewport={"width": PHONE_WIDTH, "height": 844}, is_mobile=True, has_touch=True)
    try:
        sign_in(pg, user.email)
        pg.goto("/account/security")
        pg.get_by_label("Name of the app or device").fill("Phone")
        pg.get_by_role("button", name="Continue").click()
        box = pg.locator("#qr-code svg").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH
        secret = parse_qs(urlsplit(_read_qr(pg)).query)["secret"][0]
        pg.get_by_label("The 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
        pg.get_by_role("button", name="Turn on").click()
        expect(pg.locator("#recovery-codes li")).to_have_count(10)
    finally:
        _finish(context, pg, page_errors, scripts=False)
