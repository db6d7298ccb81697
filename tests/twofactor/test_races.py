"""Races on PostgreSQL: each thread its own app context, database session and commit, released together.
One valid code submitted many times at once passes once; parallel failures all count; a recovery code or an
emailed code used twice at once passes once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.twofactor import codes, totp
from app.twofactor.models import RecoveryCode, TotpDevice
from app.twofactor.services import Limits, Method, Refusal, check_step
from app.users.models import Profile, User
from tests.twofactor.helpers import LATER, META, code_at, enroll, race, session_id

pytestmark = pytest.mark.postgres


def _attempt(user_id: int, method: Method, code: str, sid: int, limits: Limits = Limits(), purpose="sign_in"):
    def prepare(_n):
        user = db.session.get(User, user_id)
        assert user.profile is not None
        return user

    def act(user):
        return check_step(user, method, code, session_id=sid, purpose=purpose, now=LATER, limits=limits, meta=META)

    return prepare, act


def _profile(user_id: int) -> Profile:
    db.session.expire_all()
    return db.session.scalar(select(Profile).where(Profile.user_id == user_id))


def test_twenty_submissions_of_one_valid_code_pass_once(app, create_user):
    user = create_user()
    device_id, secret, _ = enroll(user)
    sid = session_id(user)
    results = race(app, 20, *_attempt(user.id, Method.TOTP, code_at(secret, LATER), sid))
    assert len(results) == 20
    assert sum(r.ok for r in results) == 1
    assert sorted(str(r.refusal) for r in results if not r.ok) == ["replayed"] * 19
    profile = _profile(user.id)
    assert (profile.twofa_successes, profile.twofa_failures) == (1, 19)
    assert db.session.scalar(select(TotpDevice.last_step).where(TotpDevice.id == device_id)) == totp.step_of(LATER)


def test_fifty_parallel_wrong_codes_all_count(app, create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    wrong = "000000" if code_at(secret, LATER) != "000000" else "999999"
    no_lock = Limits(lock_after=1000, disable_after=1000)  # nothing refuses early: every attempt is a failure
    results = race(app, 50, *_attempt(user.id, Method.TOTP, wrong, sid, no_lock))
    assert [r.refusal for r in results] == [Refusal.WRONG] * 50
    profile = _profile(user.id)
    assert (profile.twofa_failures, profile.twofa_failure_streak) == (50, 50)


def test_fifty_parallel_wrong_codes_with_the_real_limits_lock_and_none_is_lost(app, create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    wrong = "000000" if code_at(secret, LATER) != "000000" else "999999"
    results = race(app, 50, *_attempt(user.id, Method.TOTP, wrong, sid))
    counted = sum(r.refusal == Refusal.WRONG for r in results)
    refused_by_lock = sum(r.refusal == Refusal.LOCKED for r in results)
    assert counted + refused_by_lock == 50
    profile = _profile(user.id)
    assert profile.twofa_failures == profile.twofa_failure_streak == counted >= 10
    assert profile.twofa_locked_until is not None and profile.twofa_locked_until > LATER


def test_one_recovery_code_used_twice_at_once_passes_once(app, create_user):
    user = create_user()
    _, _, recovery_codes = enroll(user)
    sid = session_id(user)
    results = race(app, 2, *_attempt(user.id, Method.RECOVERY, recovery_codes[0], sid))
    assert sorted(r.ok for r in results) == [False, True]
    used = db.session.scalar(select(db.func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_not(None)))
    assert used == 1
    assert _profile(user.id).twofa_recovery_uses == 1


def test_one_emailed_code_used_twice_at_once_passes_once(app, create_user):
    user = create_user()
    enroll(user)
    sid = session_id(user)
    code, _ = codes.issue(user.id, sid, codes.SIGN_IN, LATER)
    db.session.commit()
    results = race(app, 2, *_attempt(user.id, Method.EMAIL, code, sid))
    assert sorted(r.ok for r in results) == [False, True]
