"""The second factor's rules: enrolling and removing authenticator apps, the second step at sign-in (an app's
code, a recovery code or, where a tenant allows it, a code sent by email), the step-up before sensitive actions,
the per-account failure count (a temporary lock, then the app's codes disabled), a tenant's requirement by role,
and an admin's reset. Services take explicit arguments and never commit."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from app import audit
from app.core.actor import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.fieldadapters import validated
from app.core.fields import check_name
from app.extensions import db
from app.mail.kinds import register_kind
from app.mail.services import queue_email
from app.permissions.ceiling import check_may_act_on
from app.tenants.models import Tenant
from app.twofactor import browsers, codes, recovery, secrets, totp
from app.twofactor.models import TotpDevice
from app.users.models import Membership, Profile, User

register_kind("twofa_code", _l("Your Hubx Access code"), needs=("name", "code", "minutes"))
register_kind("twofa_reset", _l("Your two-step sign-in was reset"), needs=("name", "tenant", "when"))

#: at most this many authenticator apps a person (enrollments in progress included)
MAX_DEVICES = 10


class Method(enum.StrEnum):
    """How a second step or a step-up is passed."""

    TOTP = "totp"
    RECOVERY = "recovery"
    EMAIL = "email"
    PASSWORD = "password"  # noqa: S105 (a method name) - the step-up only


class Refusal(enum.StrEnum):
    WRONG = "wrong"
    REPLAYED = "replayed"
    LOCKED = "locked"
    DISABLED = "disabled"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Limits:
    """When failed second steps lock (after `lock_after`, 30 s doubling up to `lock_cap`) and when they disable
    the app's codes (`disable_after` in a row)."""

    lock_after: int = 10
    lock_cap: timedelta = timedelta(minutes=15)
    disable_after: int = 100

    def wait(self, streak: int) -> timedelta | None:
        if streak < self.lock_after:
            return None
        return min(timedelta(seconds=30) * (2 ** min(streak - self.lock_after, 20)), self.lock_cap)


@dataclass(frozen=True)
class StepResult:
    ok: bool
    refusal: Refusal | None = None
    #: while locked: until when
    until: datetime | None = None


DEVICE_NAME_MAX = 60


def check_device_name(value) -> str:
    """An authenticator app's name: 1 to 60 characters, no control characters (forms, API and commands)."""
    return check_name(value, DEVICE_NAME_MAX)


def check_code(value) -> str:
    """A typed code (an app's 6 digits, an emailed code, a recovery code): required, at most 64 characters, no
    control characters; spaces and dashes are the reader's, each kind's check ignores them."""
    return check_name(value, 64)


# -- status -------------------------------------------------------------------------------------------------------

def devices(user_id: int) -> list[TotpDevice]:
    """The person's active authenticator apps (never their secrets), oldest first."""
    return list(db.session.scalars(select(TotpDevice)
                                   .where(TotpDevice.user_id == user_id, TotpDevice.confirmed_at.is_not(None))
                                   .order_by(TotpDevice.confirmed_at, TotpDevice.id)))


@dataclass(frozen=True)
class Requirement:
    """What the person's tenants ask of them: a second factor (`required`, with the tenants' names), and whether
    one of those tenants accepts codes by email instead of an app."""

    required: bool
    tenants: tuple[str, ...] = ()
    email_codes: bool = False


def requirement(user_id: int) -> Requirement:
    """The tenants (live memberships) that require a second factor of this person's role there."""
    rows = db.session.execute(
        select(Tenant.name, Tenant.twofa_required_roles, Tenant.twofa_email_codes, Membership.role)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user_id, Membership.deleted_at.is_(None), Membership.blocked_at.is_(None),
               Tenant.deleted_at.is_(None), Tenant.twofa_required_roles != "")
        .execution_options(all_tenants=True)).all()
    requiring = [(name, email) for name, roles, email, role in rows if str(role) in roles.split(",")]
    return Requirement(bool(requiring), tuple(sorted(name for name, _ in requiring)),
                       any(email for _, email in requiring))


# -- enrollment ---------------------------------------------------------------------------------------------------

def begin_enrollment(actor: Actor, name, *, now: datetime, enroll_minutes: int) -> tuple[TotpDevice, str]:
    """A new app in enrollment: a 160-bit secret, sealed; returns the row and the secret to show once."""
    name = validated("name", check_device_name, name)
    user = actor.user
    _drop_lapsed(user.id, now, enroll_minutes)
    count = db.session.scalar(select(func.count()).select_from(TotpDevice).where(TotpDevice.user_id == user.id))
    if count >= MAX_DEVICES:
        raise Conflict(str(_l("You have %(most)d authenticator apps; remove one before adding another.",
                              most=MAX_DEVICES)))
    secret = totp.new_secret()
    device = TotpDevice(user_id=user.id, name=name, secret=secrets.seal(secret), created_at=now)
    db.session.add(device)
    db.session.flush()
    return device, secret


def _drop_lapsed(user_id: int, now: datetime, enroll_minutes: int) -> None:
    db.session.execute(delete(TotpDevice).where(
        TotpDevice.user_id == user_id, TotpDevice.confirmed_at.is_(None),
        TotpDevice.created_at < now - timedelta(minutes=enroll_minutes)))


def pending(user_id: int, device_id: int, *, now: datetime, enroll_minutes: int) -> TotpDevice:
    """An enrollment of this person still in progress (NotFound once confirmed, lapsed or someone else's)."""
    device = db.session.get(TotpDevice, device_id)
    if (device is None or device.user_id != user_id or device.confirmed_at is not None
            or device.created_at < now - timedelta(minutes=enroll_minutes)):
        raise NotFound(str(_l("This enrollment has ended. Start again to add the app.")))
    return device


def enrollment_secret(device: TotpDevice) -> str:
    """The secret of an enrollment in progress (the page shows it until the first code confirms it); one no key
    opens any more (the keys changed meanwhile) ends the enrollment."""
    try:
        return secrets.unseal(device.secret)
    except secrets.SecretUnreadable:
        raise NotFound(str(_l("This enrollment has ended. Start again to add the app."))) from None


def confirm_enrollment(actor: Actor, device_id: int, code: str, *, now: datetime,
                       enroll_minutes: int) -> list[str] | None:
    """The app is active once a code from it passes; the first app also brings ten recovery codes (returned to
    show once; None when the person already has codes)."""
    user = actor.user
    device = pending(user.id, device_id, now=now, enroll_minutes=enroll_minutes)
    step = totp.matching_step(enrollment_secret(device), _digits(code), now)
    if step is None or not totp.claim_step(device.id, step, now):
        raise ValidationFailed(str(_l("That code does not match. Type the 6 digits the app shows now.")),
                               field="code")
    device.confirmed_at = now
    profile = user.profile
    first = profile.twofa_enabled_at is None
    if first:
        profile.twofa_enabled_at = now
    new_codes = recovery.new_set(user.id) if recovery.remaining(user.id) == 0 else None
    db.session.flush()
    audit.record("twofa.device_added", target_type="user", target_id=user.id,
                 details={"device": device.id, "first": first}, **actor.meta())
    return new_codes


def remove_device(actor: Actor, device_id: int) -> bool:
    """Remove an app; removing the last one turns the second factor off (its recovery codes and remembered
    browsers go too). Returns True when it was the last. The caller asked for a recent step-up."""
    user = actor.user
    device = _own_device(user.id, device_id)
    db.session.delete(device)
    db.session.flush()
    last = not devices(user.id)
    if last:
        _turn_off(user)
    audit.record("twofa.device_removed", target_type="user", target_id=user.id,
                 details={"device": device_id, "last": last}, **actor.meta())
    return last


def _own_device(user_id: int, device_id: int) -> TotpDevice:
    device = db.session.get(TotpDevice, device_id)
    if device is None or device.user_id != user_id or device.confirmed_at is None:
        raise NotFound(str(_l("No such authenticator app.")))
    return device


def _turn_off(user: User) -> None:
    profile = user.profile
    profile.twofa_enabled_at = None
    profile.twofa_failure_streak = 0
    profile.twofa_locked_until = None
    profile.twofa_disabled_at = None
    recovery.forget(user.id)
    browsers.forget(user.id)
    db.session.flush()


def regenerate_recovery_codes(actor: Actor) -> list[str]:
    """A new set of ten replaces the old set (the caller asked for a recent step-up)."""
    user = actor.user
    if user.profile.twofa_enabled_at is None:
        raise Conflict(str(_l("Add an authenticator app first: recovery codes stand in for it.")))
    new = recovery.new_set(user.id)
    audit.record("twofa.recovery_regenerated", target_type="user", target_id=user.id, **actor.meta())
    return new


# -- the second step and the step-up --------------------------------------------------------------------------------

def _digits(code) -> str:
    return "".join(ch for ch in str(code or "") if not ch.isspace())[:32]


def shape_problem(method: Method, code) -> str | None:
    """What is wrong with the shape of a typed code for `method` (None: it could be one). A misshapen code is
    not a guess and is not counted."""
    typed = _digits(code)
    if method == Method.TOTP and not (len(typed) == totp.DIGITS and typed.isascii() and typed.isdigit()):
        return str(_l("Type the 6 digits your app shows now."))
    if method == Method.EMAIL and not (6 <= len(typed) <= 8 and typed.isascii() and typed.isdigit()):
        return str(_l("Type the digits of the code we emailed you."))
    if method == Method.RECOVERY and not recovery.is_shaped(recovery.normalise(str(code or "")[:64])):
        return str(_l("A recovery code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS."))
    return None


def check_step(user: User, method: Method, code, *, session_id: int, purpose: str, now: datetime,
               limits: Limits, meta: dict) -> StepResult:
    """Check one second-step (or step-up) code and count the outcome on the person's profile."""
    profile = user.profile
    if method != Method.RECOVERY:  # a recovery code (80 bits) passes a lock: it is how a locked-out person gets in
        if profile.twofa_locked_until is not None and profile.twofa_locked_until > now:
            _audit_step(user, method, Refusal.LOCKED, meta)
            return StepResult(False, Refusal.LOCKED, profile.twofa_locked_until)
        if method == Method.TOTP and profile.twofa_disabled_at is not None:
            _audit_step(user, method, Refusal.DISABLED, meta)
            return StepResult(False, Refusal.DISABLED)
    refusal = _verify(user, method, _digits(code) if method != Method.RECOVERY else str(code or "")[:64],
                      session_id=session_id, purpose=purpose, now=now, meta=meta)
    if refusal is None:
        _count_success(user, recovered=method == Method.RECOVERY)
        _audit_step(user, method, None, meta, purpose=purpose)
        return StepResult(True)
    until = _count_failure(user, now, limits, meta)
    _audit_step(user, method, refusal, meta, purpose=purpose)
    return StepResult(False, refusal, until)


def _verify(user: User, method: Method, code: str, *, session_id: int, purpose: str, now: datetime,
            meta: dict) -> Refusal | None:
    if method == Method.RECOVERY:
        return None if recovery.use(user.id, code, now) else Refusal.WRONG
    if method == Method.EMAIL:
        return None if codes.redeem(user.id, session_id, purpose, code, now) else Refusal.WRONG
    replayed = False
    for device in devices(user.id):
        try:
            secret = secrets.unseal(device.secret)
        except secrets.SecretUnreadable:
            # fail closed: this app's codes are refused; the trail says why (never the secret)
            audit.record("twofa.secret_unreadable", target_type="user", target_id=user.id, outcome="failure",
                         details={"device": device.id}, **meta)
            continue
        step = totp.matching_step(secret, code, now)
        if step is None:
            continue
        if totp.claim_step(device.id, step, now):
            return None
        replayed = True
    return Refusal.REPLAYED if replayed else Refusal.WRONG


def _count_success(user: User, *, recovered: bool) -> None:
    values = {"twofa_successes": Profile.twofa_successes + 1, "twofa_failure_streak": 0,
              "twofa_locked_until": None}
    if recovered:
        values |= {"twofa_recovery_uses": Profile.twofa_recovery_uses + 1, "twofa_disabled_at": None}
    db.session.execute(update(Profile).where(Profile.user_id == user.id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.refresh(user.profile)


def _count_failure(user: User, now: datetime, limits: Limits, meta: dict) -> datetime | None:
    # Atomic: parallel wrong codes all count, each gets its own streak back.
    streak = db.session.execute(
        update(Profile).where(Profile.user_id == user.id)
        .values(twofa_failures=Profile.twofa_failures + 1, twofa_failure_streak=Profile.twofa_failure_streak + 1)
        .returning(Profile.twofa_failure_streak).execution_options(synchronize_session=False)).scalar_one()
    until = None
    if streak >= limits.disable_after and db.session.execute(
            update(Profile).where(Profile.user_id == user.id, Profile.twofa_disabled_at.is_(None))
            .values(twofa_disabled_at=now).execution_options(synchronize_session=False)).rowcount:
        audit.record("twofa.disabled", target_type="user", target_id=user.id, outcome="failure",
                     details={"failures": streak}, **meta)
    wait = limits.wait(streak)
    if wait is not None:
        until = now + wait
        db.session.execute(update(Profile).where(Profile.user_id == user.id)
                           .where((Profile.twofa_locked_until.is_(None)) | (Profile.twofa_locked_until < until))
                           .values(twofa_locked_until=until).execution_options(synchronize_session=False))
        audit.record("twofa.locked", target_type="user", target_id=user.id, outcome="failure",
                     details={"failures": streak, "seconds": int(wait.total_seconds())}, **meta)
    db.session.refresh(user.profile)
    return until


def count_rate_limited(user_id: int) -> None:
    db.session.execute(update(Profile).where(Profile.user_id == user_id)
                       .values(twofa_rate_limited=Profile.twofa_rate_limited + 1)
                       .execution_options(synchronize_session=False))


def _audit_step(user: User, method: Method, refusal: Refusal | None, meta: dict, *, purpose: str = "") -> None:
    action = "twofa.step_up" if purpose == codes.STEP_UP else "twofa.second_step"
    details = {"method": str(method)}
    if refusal is not None:
        details["reason"] = str(refusal)
    audit.record(action, target_type="user", target_id=user.id, outcome="success" if refusal is None else "failure",
                 details=details, **meta)


def send_code(user: User, *, session_id: int, purpose: str, now: datetime, locale: str) -> int:
    """Email a new one-time code for this session and purpose; returns its minutes."""
    code, minutes = codes.issue(user.id, session_id, purpose, now)
    queue_email(user.email, "twofa_code", locale=user.profile.locale or locale,
                context={"name": user.name or user.email, "code": code, "minutes": minutes})
    return minutes


def forget_browser(actor: Actor, browser_id: int) -> None:
    """Forget one of the person's remembered browsers (NotFound when it is not theirs or already gone)."""
    if not browsers.forget(actor.user.id, browser_id):
        raise NotFound(str(_l("That browser is not remembered any more.")))
    audit.record("twofa.browser_forgotten", target_type="user", target_id=actor.user.id,
                 details={"browser": browser_id}, **actor.meta())


# -- an admin's reset -----------------------------------------------------------------------------------------------

def reset_member(actor: Actor, tenant: Tenant, user: User, *, now: datetime, locale: str) -> None:
    """Remove a member's apps, recovery codes and remembered browsers, and clear the lock; the person is told by
    email. Under the ceiling; the caller asked the admin for a recent step-up."""
    check_may_act_on(actor, tenant.id, user.id)
    had = db.session.execute(delete(TotpDevice).where(TotpDevice.user_id == user.id)).rowcount
    _turn_off(user)
    audit.record("member.twofa_reset", tenant_id=tenant.id, target_type="user", target_id=user.id,
                 details={"devices": had}, **actor.meta())
    queue_email(user.email, "twofa_reset", locale=user.profile.locale or locale,
                context={"name": user.name or user.email, "tenant": tenant.name, "when": now})



# -- the step-up -----------------------------------------------------------------------------------------------------

def is_recent(signed_in_at: datetime, reauth_at: datetime | None, *, now: datetime, minutes: int) -> bool:
    """True when the person proved themselves (sign-in or a step-up) within the last `minutes`."""
    last = max(signed_in_at, reauth_at) if reauth_at is not None else signed_in_at
    return now - last <= timedelta(minutes=minutes)


def step_up(user: User, method: Method, code, *, session_id: int, now: datetime, limits: Limits,
            meta: dict) -> StepResult:
    """Prove oneself again before a sensitive action: the password, an app's code or a code sent by email for
    this session's step-up. Failures count as second-step failures (the same lock)."""
    profile = user.profile
    if profile.twofa_locked_until is not None and profile.twofa_locked_until > now:
        _audit_step(user, method, Refusal.LOCKED, meta, purpose=codes.STEP_UP)
        return StepResult(False, Refusal.LOCKED, profile.twofa_locked_until)
    if method == Method.PASSWORD:
        ok = user.check_password(str(code or "")[:1024])
        if not ok:
            until = _count_failure(user, now, limits, meta)
            _audit_step(user, method, Refusal.WRONG, meta, purpose=codes.STEP_UP)
            return StepResult(False, Refusal.WRONG, until)
        _audit_step(user, method, None, meta, purpose=codes.STEP_UP)
        return StepResult(True)
    if method == Method.RECOVERY:
        raise ValidationFailed(str(_l("Use your password or a code to confirm.")), field="method")
    return check_step(user, method, code, session_id=session_id, purpose=codes.STEP_UP, now=now, limits=limits,
                      meta=meta)
