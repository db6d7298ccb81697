"""Codes sent by email: bound to the session and purpose they were issued for, five tries, an expiry, single
use, a new one replacing the old; only a keyed digest is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.twofactor import codes
from app.twofactor.models import AuthCode
from app.twofactor.services import Method, Refusal
from tests.twofactor.helpers import LATER, enroll, session_id, step


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_a_code_is_eight_digits_for_ten_minutes_and_only_its_digest_is_kept(create_user):
    user = create_user()
    sid = session_id(user)
    code, minutes = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    db.session.commit()
    assert len(code) == 8 and code.isdigit() and minutes == 10
    row = db.session.scalar(select(AuthCode).where(AuthCode.session_id == sid))
    assert row.expires_at == LATER + timedelta(minutes=10)
    assert code not in row.digest and len(row.digest) == 64


@pytest.mark.config(TWOFA_EMAIL_CODE_DIGITS=4, TWOFA_EMAIL_CODE_MINUTES=60)
def test_settings_stay_within_six_to_eight_digits_and_ten_minutes(create_user):
    user = create_user()
    code, minutes = codes.issue(user.id, session_id(user), codes.SIGN_IN, LATER)
    assert (len(code), minutes) == (6, 10)


def test_bound_to_its_session_and_purpose(create_user):
    user = create_user()
    sid, other_sid = session_id(user), session_id(user)
    code, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    assert not codes.redeem(user.id, other_sid, codes.SIGN_IN, code, LATER)
    assert not codes.redeem(user.id, sid, codes.STEP_UP, code, LATER)
    assert codes.redeem(user.id, sid, codes.SIGN_IN, code, LATER)
    assert not codes.redeem(user.id, sid, codes.SIGN_IN, code, LATER)  # used


def test_someone_else_cannot_use_it(create_user):
    ana, bea = create_user(), create_user()
    sid = session_id(ana)
    code, _ = codes.issue(ana.id, sid, codes.SIGN_IN, LATER)
    assert not codes.redeem(bea.id, sid, codes.SIGN_IN, code, LATER)
    assert codes.redeem(ana.id, sid, codes.SIGN_IN, code, LATER)


@pytest.mark.parametrize(("wrong_tries", "passes"), [(4, True), (5, False)])
def test_five_tries(create_user, wrong_tries, passes):
    user = create_user()
    sid = session_id(user)
    code, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    for _ in range(wrong_tries):
        assert not codes.redeem(user.id, sid, codes.SIGN_IN, _other(code), LATER)
    assert codes.redeem(user.id, sid, codes.SIGN_IN, code, LATER) is passes


@pytest.mark.parametrize(("after", "passes"), [(timedelta(minutes=9, seconds=59), True),
                                               (timedelta(minutes=10), False)])
def test_it_expires(create_user, after, passes):
    user = create_user()
    sid = session_id(user)
    code, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    assert codes.has_live(sid, codes.SIGN_IN, LATER + after) is passes
    assert codes.redeem(user.id, sid, codes.SIGN_IN, code, LATER + after) is passes


def test_a_new_code_replaces_the_old_one(create_user):
    user = create_user()
    sid = session_id(user)
    first, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    second, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER + timedelta(seconds=5))
    if first == second:  # one chance in 10^8: the old row is withdrawn either way
        pytest.skip("the two random codes happened to be equal")
    assert not codes.redeem(user.id, sid, codes.SIGN_IN, first, LATER + timedelta(seconds=6))
    assert codes.redeem(user.id, sid, codes.SIGN_IN, second, LATER + timedelta(seconds=6))
    # a step-up code of the same session is a separate one
    step_up, _ = codes.issue(user.id, sid, codes.STEP_UP, LATER)
    assert codes.has_live(sid, codes.STEP_UP, LATER) and not codes.has_live(sid, codes.SIGN_IN, LATER)
    assert codes.redeem(user.id, sid, codes.STEP_UP, step_up, LATER)


def test_the_second_step_by_email(create_user):
    """Through check_step (services.send_code issues the same way; its email templates belong to the pages)."""
    user = create_user()
    enroll(user)
    sid = session_id(user)
    code, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    db.session.commit()
    wrong = step(user, Method.EMAIL, _other(code), now=LATER, sid=sid)
    assert (wrong.ok, wrong.refusal) == (False, Refusal.WRONG)
    step_up = step(user, Method.EMAIL, code, now=LATER, sid=sid, purpose=codes.STEP_UP)
    assert step_up.refusal == Refusal.WRONG  # a sign-in code is not a step-up code
    assert step(user, Method.EMAIL, code[:4] + " " + code[4:], now=LATER, sid=sid).ok  # spaces are the reader's
    assert step(user, Method.EMAIL, code, now=LATER, sid=sid).refusal == Refusal.WRONG
    db.session.refresh(user.profile)
    assert (user.profile.twofa_successes, user.profile.twofa_failures) == (1, 3)
