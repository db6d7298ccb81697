"""Sign-in rules: one generic refusal for every failure, the reason kept for the audit trail only."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit
from app.core.mixins import utcnow
from app.extensions import db
from app.users.models import PASSWORD_METHOD, Profile, User, UserStatus
from app.users.services import normalise_email

# Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("hubx-timing-equaliser", method=PASSWORD_METHOD)


class FailureReason(enum.StrEnum):
    UNKNOWN_EMAIL = "unknown_email"
    BAD_PASSWORD = "bad_password"  # noqa: S105 (a reason code, not a password)
    NOT_ACTIVE = "not_active"
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInResult:
    """The outcome of one sign-in attempt."""

    user: User | None
    reason: FailureReason | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(email: str, password: str, *, ip: str, user_agent: str, request_id: str) -> SignInResult:
    """Check credentials and record the attempt; the caller shows one message for every failure."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return _failed(None, FailureReason.UNKNOWN_EMAIL, email, ip, user_agent, request_id)
    password_ok = user.check_password(password)
    profile = user.profile
    if profile.status != UserStatus.ACTIVE:
        return _failed(user, FailureReason.NOT_ACTIVE, email, ip, user_agent, request_id)
    if profile.is_locked():
        return _failed(user, FailureReason.LOCKED, email, ip, user_agent, request_id)
    if not password_ok:
        return _failed(user, FailureReason.BAD_PASSWORD, email, ip, user_agent, request_id)
    profile.failed_login_count = 0
    profile.last_login_at = utcnow()
    audit.record("auth.login_succeeded", actor_id=user.id, target_type="user", target_id=user.id,
                 ip=ip, user_agent=user_agent, request_id=request_id)
    return SignInResult(user)


def _count_failure(email: str) -> None:
    # Every failure runs this same statement, keyed by the address typed: it counts against an account when
    # there is one and matches no row when there is none, so an unknown email and a wrong password cost the same
    # round trips (their timing must not tell which addresses exist). Atomic: parallel failures all count.
    account = select(User.id).where(User.email == email).scalar_subquery()
    db.session.execute(update(Profile).where(Profile.user_id == account)
                       .values(failed_login_count=Profile.failed_login_count + 1)
                       .execution_options(synchronize_session=False))


def _failed(user, reason, email, ip, user_agent, request_id) -> SignInResult:
    _count_failure(email)
    details = {"reason": str(reason)}
    if user is None:
        # The typed email helps spot credential stuffing; only its domain is kept.
        details["email_domain"] = email.rpartition("@")[2][:100]
    audit.record("auth.login_failed", actor_id=user.id if user else None, target_type="user",
                 target_id=user.id if user else None, outcome="failure",
                 ip=ip, user_agent=user_agent, request_id=request_id, details=details)
    return SignInResult(None, reason)


def record_sign_out(user: User, *, ip: str, user_agent: str, request_id: str) -> None:
    """Audit a sign-out."""
    audit.record("auth.logout", actor_id=user.id, target_type="user", target_id=user.id,
                 ip=ip, user_agent=user_agent, request_id=request_id)
