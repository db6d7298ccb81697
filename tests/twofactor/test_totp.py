"""Authenticator codes: one step of drift each way and no more, each code once, never an earlier step than the
last one used, the QR code and the typed key."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import time_machine

from app.core.mixins import utcnow
from app.extensions import db
from app.twofactor import services, totp
from app.twofactor.models import TotpDevice
from app.twofactor.services import Method, Refusal
from tests.twofactor.helpers import LATER, NOW, code_at, enroll, session_id, step

FIXED_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"


@pytest.fixture
def fixed_secret(monkeypatch):
    """Enrollments get a known secret, so the five codes around a step can be checked to differ."""
    monkeypatch.setattr(totp, "new_secret", lambda: FIXED_SECRET)
    codes = {code_at(FIXED_SECRET, LATER, n) for n in range(-2, 3)}
    assert len(codes) == 5  # a coincidence between neighbouring steps would make the edges untestable
    return FIXED_SECRET


def test_a_new_secret_is_160_bits_of_base32():
    secret = totp.new_secret()
    assert len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert totp.new_secret() != secret
    assert totp.grouped("ABCDEFGHIJKL") == "ABCD EFGH IJKL"


@pytest.mark.parametrize("into_step", [0, 29])
def test_the_window_is_one_step_each_way(fixed_secret, into_step):
    now = LATER.replace(second=0) + timedelta(seconds=into_step)  # the first and the last second of step T
    current = totp.step_of(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(fixed_secret, code_at(fixed_secret, now, offset), now) == current + offset
    for offset in (-2, 2):
        assert totp.matching_step(fixed_secret, code_at(fixed_secret, now, offset), now) is None
    for malformed in ("", "12345", "1234567", "12a456", "１２３４５６"):
        assert totp.matching_step(fixed_secret, malformed, now) is None


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_of_the_neighbouring_steps_pass_the_second_step(create_user, fixed_secret, offset):
    user = create_user()
    enroll(user)
    result = step(user, Method.TOTP, code_at(fixed_secret, LATER, offset), now=LATER, sid=session_id(user))
    assert result.ok
    device = db.session.scalar(db.select(TotpDevice).where(TotpDevice.user_id == user.id))
    assert device.last_step == totp.step_of(LATER) + offset and device.last_used_at == LATER


@pytest.mark.parametrize("offset", [-2, 2])
def test_codes_two_steps_away_are_refused(create_user, fixed_secret, offset):
    user = create_user()
    enroll(user)
    result = step(user, Method.TOTP, code_at(fixed_secret, LATER, offset), now=LATER, sid=session_id(user))
    assert (result.ok, result.refusal) == (False, Refusal.WRONG)
    db.session.refresh(user.profile)
    assert (user.profile.twofa_failures, user.profile.twofa_failure_streak) == (1, 1)


def test_the_window_on_a_frozen_clock(create_user, fixed_secret):
    """The same edges with the clock itself frozen (the pages pass utcnow())."""
    user = create_user()
    with time_machine.travel(LATER, tick=False):
        enroll(user, now=utcnow() - timedelta(minutes=5))
        sid = session_id(user)
        assert not step(user, Method.TOTP, code_at(fixed_secret, utcnow(), -2), now=utcnow(), sid=sid).ok
        assert not step(user, Method.TOTP, code_at(fixed_secret, utcnow(), 2), now=utcnow(), sid=sid).ok
        assert step(user, Method.TOTP, code_at(fixed_secret, utcnow(), -1), now=utcnow(), sid=sid).ok
        assert step(user, Method.TOTP, code_at(fixed_secret, utcnow(), 0), now=utcnow(), sid=sid).ok
        assert step(user, Method.TOTP, code_at(fixed_secret, utcnow(), 1), now=utcnow(), sid=sid).ok


def test_the_same_code_twice_is_a_replay(create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    code = code_at(secret, LATER)
    assert step(user, Method.TOTP, code, now=LATER, sid=sid).ok
    again = step(user, Method.TOTP, code, now=LATER + timedelta(seconds=5), sid=sid)
    assert (again.ok, again.refusal) == (False, Refusal.REPLAYED)
    db.session.refresh(user.profile)
    assert (user.profile.twofa_successes, user.profile.twofa_failures) == (1, 1)


def test_a_code_of_an_earlier_step_than_the_last_used_is_a_replay(create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    assert step(user, Method.TOTP, code_at(secret, LATER, 1), now=LATER, sid=sid).ok  # the app runs ahead
    for earlier in (0, -1):
        refused = step(user, Method.TOTP, code_at(secret, LATER, earlier), now=LATER, sid=sid)
        assert refused.refusal == Refusal.REPLAYED
    # the next step is still fine
    assert step(user, Method.TOTP, code_at(secret, LATER, 2), now=LATER + timedelta(seconds=30), sid=sid).ok


def test_the_code_that_confirmed_the_enrollment_cannot_sign_in(create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    refused = step(user, Method.TOTP, code_at(secret, NOW), now=NOW + timedelta(seconds=10), sid=session_id(user))
    assert refused.refusal == Refusal.REPLAYED


def test_each_of_two_apps_has_its_own_last_step(create_user):
    user = create_user()
    _, first, _ = enroll(user, name="Phone")
    _, second, codes = enroll(user, now=NOW + timedelta(minutes=1), name="Tablet")
    assert codes is None  # the person already has recovery codes: a second app brings none
    sid = session_id(user)
    assert step(user, Method.TOTP, code_at(first, LATER), now=LATER, sid=sid).ok
    assert step(user, Method.TOTP, code_at(second, LATER), now=LATER, sid=sid).ok


def test_an_enrollment_needs_a_matching_code_and_lapses(create_user):
    from app.core.errors import NotFound, ValidationFailed
    from tests.twofactor.helpers import actor

    user = create_user()
    device, secret = services.begin_enrollment(actor(user), "Phone", now=NOW, enroll_minutes=10)
    with pytest.raises(ValidationFailed):
        services.confirm_enrollment(actor(user), device.id, code_at(secret, NOW, 3), now=NOW, enroll_minutes=10)
    assert user.profile.twofa_enabled_at is None
    with pytest.raises(NotFound):
        services.confirm_enrollment(actor(user), device.id, code_at(secret, NOW + timedelta(minutes=11)),
                                    now=NOW + timedelta(minutes=11), enroll_minutes=10)
    assert services.devices(user.id) == []


def test_the_qr_code_is_an_svg_of_the_otpauth_uri():
    uri = totp.provisioning_uri(FIXED_SECRET, account="ana@example.com", issuer="Hubx Access")
    assert uri.startswith("otpauth://totp/Hubx%20Access:ana%40example.com?secret=" + FIXED_SECRET)
    assert pyotp.parse_uri(uri).secret == FIXED_SECRET
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "viewBox" in svg and ' width="' not in svg.split(">", 1)[0]


def test_digits_of_other_scripts_are_a_wrong_code_not_an_error(create_user):
    """'１２３４５６' (full width) passes str.isdigit(); it used to reach hmac.compare_digest, which raises."""
    user = create_user()
    enroll(user)
    result = step(user, Method.TOTP, "１２３４５６", now=LATER, sid=session_id(user))
    assert (result.ok, result.refusal) == (False, Refusal.WRONG)
