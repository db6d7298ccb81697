"""The per-account failure count of the second step: a temporary lock after TWOFA_LOCK_AFTER failures in a row
(a recovery code still passes), the app's codes disabled after TWOFA_DISABLE_AFTER (a recovery code brings them
back); a success starts the count again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app

from app.extensions import db
from app.twofactor.services import Limits, Method, Refusal
from tests.twofactor.helpers import LATER, code_at, enroll, events, limits_from_config, session_id, step

WRONG = "000000"


def _wrong(user, secret, *, now, sid, limits):
    code = WRONG if code_at(secret, now) != WRONG else "999999"
    return step(user, Method.TOTP, code, now=now, sid=sid, limits=limits)


def test_the_defaults_are_the_settings(app):
    config = current_app.config
    assert (config["TWOFA_LOCK_AFTER"], config["TWOFA_DISABLE_AFTER"], config["TWOFA_LOCK_MAX_MINUTES"]) == (10, 100,
                                                                                                            15)
    assert limits_from_config() == Limits()


def test_the_lock_grows_from_30_seconds_and_stops_at_the_cap():
    limits = Limits()
    assert limits.wait(9) is None
    assert [limits.wait(n) for n in (10, 11, 12)] == [timedelta(seconds=30), timedelta(seconds=60),
                                                      timedelta(seconds=120)]
    assert limits.wait(15) == timedelta(minutes=15) and limits.wait(10_000) == timedelta(minutes=15)


def test_nine_failures_do_not_lock(create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    for n in range(9):
        assert _wrong(user, secret, now=LATER + timedelta(seconds=n), sid=sid, limits=Limits()).until is None
    assert step(user, Method.TOTP, code_at(secret, LATER), now=LATER + timedelta(seconds=10), sid=sid).ok
    db.session.refresh(user.profile)
    assert (user.profile.twofa_failures, user.profile.twofa_failure_streak) == (9, 0)


def test_the_tenth_failure_locks_a_valid_code_is_refused_and_a_recovery_code_passes(create_user):
    user = create_user()
    _, secret, codes = enroll(user)
    sid = session_id(user)
    results = [_wrong(user, secret, now=LATER, sid=sid, limits=Limits()) for _ in range(10)]
    assert [r.until for r in results[:9]] == [None] * 9
    assert results[9].until == LATER + timedelta(seconds=30)
    assert len(events("twofa.locked")) == 1

    locked = step(user, Method.TOTP, code_at(secret, LATER), now=LATER + timedelta(seconds=1), sid=sid)
    assert (locked.ok, locked.refusal, locked.until) == (False, Refusal.LOCKED, LATER + timedelta(seconds=30))
    db.session.refresh(user.profile)
    assert user.profile.twofa_failures == 10  # a refusal by the lock does not count as a failure

    assert step(user, Method.RECOVERY, codes[0], now=LATER + timedelta(seconds=2), sid=sid).ok
    db.session.refresh(user.profile)
    assert (user.profile.twofa_locked_until, user.profile.twofa_failure_streak) == (None, 0)
    # the lock is over: the app's next code passes
    assert step(user, Method.TOTP, code_at(secret, LATER, 1), now=LATER + timedelta(seconds=3), sid=sid).ok


def test_the_lock_ends_by_itself(create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    for _ in range(10):
        _wrong(user, secret, now=LATER, sid=sid, limits=Limits())
    later = LATER + timedelta(seconds=31)
    assert step(user, Method.TOTP, code_at(secret, later), now=later, sid=sid).ok


def _fail_until_disabled(user, secret, sid, limits) -> tuple:
    """Wrong codes, each after the previous lock ran out, until the app's codes are disabled; returns the time of
    the last failure and the number of failures."""
    now = LATER
    for n in range(1, limits.disable_after + 1):
        result = _wrong(user, secret, now=now, sid=sid, limits=limits)
        assert result.refusal == Refusal.WRONG, n  # never refused by a lock: each try waits the lock out
        db.session.refresh(user.profile)
        assert (user.profile.twofa_disabled_at is not None) == (n >= limits.disable_after), n
        now = (result.until or now) + timedelta(seconds=1)
    return now, limits.disable_after


def test_the_hundredth_failure_disables_app_codes_and_a_recovery_code_brings_them_back(create_user):
    limits = Limits()  # the real defaults: lock after 10, disable after 100
    assert limits.disable_after == 100
    user = create_user()
    _, secret, codes = enroll(user)
    sid = session_id(user)
    now, failures = _fail_until_disabled(user, secret, sid, limits)
    assert failures == 100 and len(events("twofa.disabled")) == 1
    assert events("twofa.disabled")[0].details == {"failures": 100}

    disabled = step(user, Method.TOTP, code_at(secret, now), now=now, sid=sid, limits=limits)
    assert (disabled.ok, disabled.refusal) == (False, Refusal.DISABLED)

    assert step(user, Method.RECOVERY, codes[3], now=now, sid=sid, limits=limits).ok
    db.session.refresh(user.profile)
    assert (user.profile.twofa_disabled_at, user.profile.twofa_failure_streak, user.profile.twofa_recovery_uses) == (
        None, 0, 1)
    assert step(user, Method.TOTP, code_at(secret, now), now=now, sid=sid, limits=limits).ok


@pytest.mark.config(TWOFA_LOCK_AFTER=3, TWOFA_DISABLE_AFTER=6)
def test_the_settings_decide_when(create_user):
    limits = limits_from_config()
    assert (limits.lock_after, limits.disable_after) == (3, 6)
    user = create_user()
    _, secret, _ = enroll(user)
    sid = session_id(user)
    now, _ = _fail_until_disabled(user, secret, sid, limits)
    assert [e.details["failures"] for e in events("twofa.locked")] == [3, 4, 5, 6]
    db.session.refresh(user.profile)
    assert user.profile.twofa_failure_streak == 6
    assert step(user, Method.TOTP, code_at(secret, now), now=now, sid=sid, limits=limits).refusal == Refusal.DISABLED


def test_failures_are_counted_per_account(create_user):
    ana, bea = create_user(), create_user()
    _, ana_secret, _ = enroll(ana)
    _, bea_secret, _ = enroll(bea)
    for _ in range(10):
        _wrong(ana, ana_secret, now=LATER, sid=session_id(ana), limits=Limits())
    assert step(ana, Method.TOTP, code_at(ana_secret, LATER), now=LATER, sid=session_id(ana)).refusal == Refusal.LOCKED
    assert step(bea, Method.TOTP, code_at(bea_secret, LATER), now=LATER, sid=session_id(bea)).ok
    db.session.refresh(bea.profile)
    assert (bea.profile.twofa_failures, bea.profile.twofa_locked_until) == (0, None)
