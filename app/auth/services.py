"""Sign-in rules: one generic refusal for every failure (the reason kept for the audit trail only), a temporary
lock with a growing wait after repeated failures, and the ways past a lock that an attacker cannot use: a correct
password from a browser that signed in before (a known browser), and a password-reset link."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit
from app.core.fieldadapters import validated
from app.core.fields import in_range
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import PASSWORD_METHOD, Membership, Profile, User, UserStatus
from app.users.services import normalise_email

# Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("hubx-timing-equaliser", method=PASSWORD_METHOD)


class FailureReason(enum.StrEnum):
    UNKNOWN_EMAIL = "unknown_email"
    BAD_PASSWORD = "bad_password"  # noqa: S105 (a reason code, not a password)
    NOT_ACTIVE = "not_active"
    LOCKED = "locked"


@dataclass(frozen=True)
class LockPolicy:
    """When failures lock an account: after `after` failures, for `base` × 2^(n - after) (n failures so far),
    never longer than `cap`. The platform's comes from settings; a tenant may only make `after` stricter."""

    after: int = 5
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=15)

    def wait(self, failures: int) -> timedelta | None:
        """How long `failures` failures lock the account for (None: not locked)."""
        if failures < self.after:
            return None
        power = min(failures - self.after, 40)  # 2^40 s is far past any cap; keeps the number small
        return min(self.base * (2 ** power), self.cap)


@dataclass(frozen=True)
class SignInResult:
    """The outcome of one sign-in attempt."""

    user: User | None
    reason: FailureReason | None = None
    #: the lock was passed because the browser is known to this account
    known_browser: bool = False

    @property
    def ok(self) -> bool:
        return self.user is not None


def _stricter_threshold(email: str):
    # The lowest threshold among the tenants of the account this address names (NULL: none is stricter). Keyed
    # by the typed address, so an unknown email costs the same query.
    return (select(func.min(Tenant.lock_after_failures))
            .join(Membership, Membership.tenant_id == Tenant.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email, Membership.deleted_at.is_(None), Tenant.deleted_at.is_(None))
            .scalar_subquery())


def authenticate(email: str, password: str, *, ip: str, user_agent: str, request_id: str, now: datetime,
                 lock: LockPolicy, known_browser: Callable[[User], bool] | None = None) -> SignInResult:
    """Check credentials and record the attempt; the caller shows one message for every failure.

    Status and lock are decided before the password counts; every failure is counted atomically. A lock does not
    hold a correct password typed in a browser this account signed in from before (`known_user_id`)."""
    email = normalise_email(email)
    found = db.session.execute(select(User, _stricter_threshold(email)).where(User.email == email)).first()
    if found is None:
        check_password_hash(_DUMMY_HASH, password)
        return _failed(None, FailureReason.UNKNOWN_EMAIL, email, now, lock, ip, user_agent, request_id)
    user, tenant_after = found
    if tenant_after is not None and tenant_after < lock.after:
        lock = LockPolicy(after=tenant_after, base=lock.base, cap=lock.cap)
    password_ok = user.check_password(password)  # computed in every case: the answer's timing tells nothing
    profile = user.profile
    if profile.status != UserStatus.ACTIVE:
        return _failed(user, FailureReason.NOT_ACTIVE, email, now, lock, ip, user_agent, request_id)
    known = known_browser is not None and known_browser(user)
    if profile.is_locked(now) and not (known and password_ok):
        return _failed(user, FailureReason.LOCKED, email, now, lock, ip, user_agent, request_id)
    if not password_ok:
        return _failed(user, FailureReason.BAD_PASSWORD, email, now, lock, ip, user_agent, request_id)
    was_locked = profile.is_locked(now)
    clear_failures(user)
    profile.last_login_at = now
    audit.record("auth.login_succeeded", actor_id=user.id, target_type="user", target_id=user.id,
                 ip=ip, user_agent=user_agent, request_id=request_id,
                 details={"known_browser": True, "passed_lock": True} if was_locked else None)
    return SignInResult(user, known_browser=known)


def clear_failures(user: User) -> None:
    """A success (or a reset password) ends the lock and resets the counter."""
    profile = user.profile
    profile.failed_login_count = 0
    profile.locked_until = None
    db.session.flush()


def _count_failure(email: str) -> int | None:
    # Every failure runs this same statement, keyed by the address typed: it counts against an account when
    # there is one and matches no row when there is none, so an unknown email and a wrong password cost the same
    # round trips (their timing must not tell which addresses exist). Atomic: parallel failures all count, and
    # each gets its own count back.
    account = select(User.id).where(User.email == email).scalar_subquery()
    return db.session.execute(update(Profile).where(Profile.user_id == account)
                              .values(failed_login_count=Profile.failed_login_count + 1)
                              .returning(Profile.failed_login_count)
                              .execution_options(synchronize_session=False)).scalar()


def _lock(user: User, until: datetime) -> bool:
    # Only ever later: parallel failures that lock at once leave the longest of their waits.
    return bool(db.session.execute(
        update(Profile).where(Profile.user_id == user.id,
                              (Profile.locked_until.is_(None)) | (Profile.locked_until < until))
        .values(locked_until=until).execution_options(synchronize_session=False)).rowcount)


def _failed(user, reason, email, now, lock, ip, user_agent, request_id) -> SignInResult:
    failures = _count_failure(email)
    meta = {"ip": ip, "user_agent": user_agent, "request_id": request_id}
    details = {"reason": str(reason)}
    if user is None:
        # The typed email helps spot credential stuffing; only its domain is kept.
        details["email_domain"] = email.rpartition("@")[2][:100]
    else:
        details["failures"] = failures
    audit.record("auth.login_failed", actor_id=user.id if user else None, target_type="user",
                 target_id=user.id if user else None, outcome="failure", details=details, **meta)
    wait = lock.wait(failures or 0) if user is not None and reason != FailureReason.NOT_ACTIVE else None
    if wait is not None and _lock(user, now + wait):
        audit.record("auth.account_locked", actor_id=None, target_type="user", target_id=user.id,
                     outcome="failure", details={"failures": failures, "seconds": int(wait.total_seconds())}, **meta)
    return SignInResult(None, reason)


def record_sign_out(user: User, *, ip: str, user_agent: str, request_id: str) -> None:
    """Audit a sign-out."""
    audit.record("auth.logout", actor_id=user.id, target_type="user", target_id=user.id,
                 ip=ip, user_agent=user_agent, request_id=request_id)


def check_lock_after(value, platform_after: int) -> int:
    """A tenant's sign-in lock threshold: 1 up to the platform's (a tenant may lock sooner, never later)."""
    return in_range(1, platform_after, _l("From 1 to %(most)d failed sign-ins (the platform's limit).",
                                         most=platform_after))(value)


def update_signin_settings(actor, tenant: Tenant, *, lock_after: int | None, platform_after: int) -> bool:
    """Set (or clear, with None) the tenant's stricter lock threshold; True when it changed."""
    value = validated("lock_after", check_lock_after, lock_after, platform_after, optional=True)
    if tenant.lock_after_failures == value:
        return False
    before, tenant.lock_after_failures = tenant.lock_after_failures, value
    db.session.flush()
    audit.record("tenant.signin_settings_changed", tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                 details={"lock_after_failures": [before, value]}, **actor.meta())
    return True
