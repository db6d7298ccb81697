"""Password resets: a single-use link (only its digest kept) that works for PASSWORD_RESET_MINUTES, asked for by
the person ("forgot password", answered the same whether or not the address has an account) or sent by an admin.
A reset always works, lock or not: it is the way back in that an attacker cannot block."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from app import audit
from app.auth.models import PasswordReset
from app.auth.services import clear_failures
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.errors import ValidationFailed
from app.extensions import db
from app.mail.services import queue_email
from app.sessions.models import EndReason
from app.sessions.services import end_user_sessions
from app.users.models import User, UserStatus
from app.users.services import by_email, validate_password

#: bytes of randomness in a reset secret (256 bits)
RESET_BYTES = 32


def _send(user: User, *, now: datetime, lifetime: timedelta, link: Callable[[str], str], locale: str,
          requested_by: int | None) -> PasswordReset:
    raw = secrets.token_urlsafe(RESET_BYTES)
    reset = PasswordReset(user_id=user.id, digest=crypto().digest(raw), requested_by_id=requested_by,
                          expires_at=now + lifetime)
    db.session.add(reset)
    db.session.flush()
    queue_email(user.email, "password_reset", locale=user.profile.locale or locale,
                context={"name": user.name, "link": link(raw), "minutes": int(lifetime.total_seconds() // 60)})
    return reset


def request_reset(email: str, *, now: datetime, lifetime: timedelta, link: Callable[[str], str], locale: str,
                  ip: str, user_agent: str, request_id: str) -> None:
    """"Forgot password": mail a link when the address has an active account; the caller answers the same either
    way (nothing here tells whether an account exists)."""
    user = by_email(email)
    meta = {"ip": ip, "user_agent": user_agent, "request_id": request_id}
    if user is None or user.profile.status != UserStatus.ACTIVE:
        audit.record("auth.reset_requested", outcome="failure", details={"reason": "no active account"}, **meta)
        return
    _send(user, now=now, lifetime=lifetime, link=link, locale=locale, requested_by=None)
    audit.record("auth.reset_requested", actor_id=user.id, target_type="user", target_id=user.id, **meta)


def send_reset(actor: Actor, user: User, *, tenant_id: int, now: datetime, lifetime: timedelta,
               link: Callable[[str], str], locale: str) -> None:
    """An admin sends a member a reset link (the caller checked the ceiling); the admin never sees the link."""
    _send(user, now=now, lifetime=lifetime, link=link, locale=locale, requested_by=actor.user.id)
    audit.record("member.reset_sent", tenant_id=tenant_id, target_type="user", target_id=user.id, **actor.meta())


def reset_is_usable(raw: str | None, *, now: datetime) -> bool:
    """True when `raw` names an unused, unexpired reset (the form is shown only then)."""
    if not raw or len(raw) > 100:
        return False
    return db.session.scalar(select(PasswordReset.id).where(
        PasswordReset.digest == crypto().digest(raw), PasswordReset.used_at.is_(None),
        PasswordReset.expires_at > now)) is not None


def reset_password(raw: str, password: str, *, now: datetime, ip: str, user_agent: str,
                   request_id: str) -> User | None:
    """Use a reset link: a new password, the lock lifted, every session ended. None when the link is unknown, used
    or expired. Single use by construction: the conditional UPDATE lets one of two parallel uses through."""
    validate_password(password)
    used = db.session.execute(
        update(PasswordReset).where(PasswordReset.digest == crypto().digest(raw or ""),
                                    PasswordReset.used_at.is_(None), PasswordReset.expires_at > now)
        .values(used_at=now).returning(PasswordReset.user_id).execution_options(synchronize_session=False)
    ).scalar()
    if used is None:
        return None
    user = db.session.get(User, used)
    if user is None or user.profile.status != UserStatus.ACTIVE:
        return None
    user.set_password(password)
    clear_failures(user)
    ended = end_user_sessions(user.id, reason=EndReason.PASSWORD_CHANGED, now=now)
    audit.record("auth.password_reset", actor_id=user.id, target_type="user", target_id=user.id,
                 ip=ip, user_agent=user_agent, request_id=request_id, details={"sessions_ended": ended})
    return user


def change_password(user: User, *, current: str, new: str, end_others: bool, keep_session: int | None,
                    now: datetime, ip: str, user_agent: str, request_id: str) -> int:
    """The person changes their password (the current one again first); optionally every other session ends.
    Returns how many sessions ended. A notice goes to their address."""
    if not user.check_password(current or ""):
        raise ValidationFailed(str(_l("This is not your current password.")), field="current")
    validate_password(new)
    user.set_password(new)
    ended = end_user_sessions(user.id, reason=EndReason.PASSWORD_CHANGED, now=now, keep=keep_session) \
        if end_others else 0
    audit.record("auth.password_changed", actor_id=user.id, target_type="user", target_id=user.id, ip=ip,
                 user_agent=user_agent, request_id=request_id, details={"sessions_ended": ended})
    queue_email(user.email, "password_changed", locale=user.profile.locale or "en",
                context={"name": user.name, "when": now.strftime("%Y-%m-%d %H:%M UTC")})
    return ended
