"""The second factor's services end to end, without pages: enroll, pass, replay refused, recovery once."""

from datetime import UTC, datetime

import pyotp

from app.core.actor import Actor
from app.extensions import db
from app.sessions.services import Lifetimes, start_session
from app.twofactor import services
from app.twofactor.services import Limits, Method, Refusal

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
META = {"ip": "203.0.113.9", "user_agent": "pytest", "request_id": "t"}


def _actor(user):
    return Actor(user=user, ip="203.0.113.9", user_agent="pytest", request_id="t")


def test_enroll_pass_replay_and_recover(create_user):
    from datetime import timedelta
    user = create_user()
    device, secret = services.begin_enrollment(_actor(user), "Phone", now=NOW, enroll_minutes=10)
    codes = services.confirm_enrollment(_actor(user), device.id, pyotp.TOTP(secret).at(NOW), now=NOW,
                                        enroll_minutes=10)
    assert len(codes) == 10 and user.profile.twofa_enabled_at is not None
    row, _ = start_session(user, ip="", user_agent="", now=NOW, lifetimes=Lifetimes(timedelta(minutes=30),
                                                                                    timedelta(hours=12)))
    later = NOW + timedelta(seconds=30)
    result = services.check_step(user, Method.TOTP, pyotp.TOTP(secret).at(later), session_id=row.id,
                                 purpose="sign_in", now=later, limits=Limits(), meta=META)
    assert result.ok
    again = services.check_step(user, Method.TOTP, pyotp.TOTP(secret).at(later), session_id=row.id,
                                purpose="sign_in", now=later, limits=Limits(), meta=META)
    assert again.refusal == Refusal.REPLAYED
    assert services.check_step(user, Method.RECOVERY, codes[0].lower(), session_id=row.id, purpose="sign_in",
                               now=later, limits=Limits(), meta=META).ok
    assert not services.check_step(user, Method.RECOVERY, codes[0], session_id=row.id, purpose="sign_in",
                                   now=later, limits=Limits(), meta=META).ok
    db.session.refresh(user.profile)
    assert (user.profile.twofa_successes, user.profile.twofa_failures, user.profile.twofa_recovery_uses) == (2, 2, 1)
