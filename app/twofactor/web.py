"""What the second factor gives the web layer: which stage a sign-in goes to after the password, the
remembered-browser cookie, the limits from settings, and the step-up state of this browser's session."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, request, session

from app.core.mixins import utcnow
from app.core.request_state import state
from app.sessions.models import SessionStage
from app.sessions.services import mark_reauthenticated
from app.twofactor import browsers, services
from app.twofactor.services import Limits
from app.users.models import User


def limits() -> Limits:
    config = current_app.config
    return Limits(lock_after=config["TWOFA_LOCK_AFTER"],
                  lock_cap=timedelta(minutes=config["TWOFA_LOCK_MAX_MINUTES"]),
                  disable_after=config["TWOFA_DISABLE_AFTER"])


def enroll_minutes() -> int:
    return current_app.config["TWOFA_ENROLL_MINUTES"]


def remembered_cookie() -> str:
    """`__Host-hubx_2fa` where cookies are Secure (production), else `hubx_2fa`."""
    return "__Host-hubx_2fa" if current_app.config.get("SESSION_COOKIE_SECURE") else "hubx_2fa"


def remembered_raw() -> str | None:
    return request.cookies.get(remembered_cookie())


def remember_this_browser(response, user: User, device: str) -> None:
    days = current_app.config["TWOFA_REMEMBER_DAYS"]
    raw, _row = browsers.remember(user.id, device, utcnow(), days)
    response.set_cookie(remembered_cookie(), raw, max_age=days * 86400, httponly=True, samesite="Lax", path="/",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def stage_after_password(user: User) -> str | None:
    """Where a sign-in goes once the password passed: the second step (an app, or codes by email where a tenant
    allows them), enrollment (a tenant requires a second factor the person does not have yet), or straight in
    (no second factor, or a browser the person chose to remember)."""
    now = utcnow()
    if user.profile.twofa_enabled_at is not None:
        return None if browsers.recognise(user.id, remembered_raw(), now) else SessionStage.SECOND_FACTOR
    need = services.requirement(user.id)
    if not need.required:
        return None
    if need.email_codes:
        return None if browsers.recognise(user.id, remembered_raw(), now) else SessionStage.SECOND_FACTOR
    return SessionStage.ENROLL


def recently_proved() -> bool:
    """True when this browser's session signed in or stepped up within TWOFA_REAUTH_MINUTES."""
    row = state.user_session
    return row is not None and services.is_recent(row.signed_in_at, row.reauth_at, now=utcnow(),
                                                  minutes=current_app.config["TWOFA_REAUTH_MINUTES"])


def note_step_up() -> None:
    mark_reauthenticated(state.user_session, utcnow())


#: where the sign-in was going, kept while the second step or the enrollment is pending
NEXT_KEY = "twofa_next"


def keep_next(target: str | None) -> None:
    if target:
        session[NEXT_KEY] = target


def take_next() -> str | None:
    return session.pop(NEXT_KEY, None)
