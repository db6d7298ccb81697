"""One-time codes sent by email (`AuthCode`): 6 to 8 digits (TWOFA_EMAIL_CODE_DIGITS), valid for at most 10
minutes, single use, bound to the session they were issued in and to their purpose (the second step, or a
step-up), TWOFA_EMAIL_CODE_TRIES wrong tries. Only a keyed digest is stored; a new code replaces the previous one."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.core.crypto import crypto
from app.extensions import db
from app.twofactor.models import AuthCode

SIGN_IN = "sign_in"
STEP_UP = "step_up"


def _digest(purpose: str, session_id: int, code: str) -> str:
    return crypto().digest(f"authcode:{purpose}:{session_id}:{code}")


def issue(user_id: int, session_id: int, purpose: str, now: datetime) -> tuple[str, int]:
    """A new code for (session, purpose), the previous one withdrawn; returns the code and its minutes."""
    config = current_app.config
    digits = min(max(config["TWOFA_EMAIL_CODE_DIGITS"], 6), 8)
    minutes = min(max(config["TWOFA_EMAIL_CODE_MINUTES"], 1), 10)
    code = f"{secrets.randbelow(10 ** digits):0{digits}d}"
    db.session.execute(update(AuthCode)
                       .where(AuthCode.session_id == session_id, AuthCode.purpose == purpose,
                              AuthCode.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    db.session.add(AuthCode(user_id=user_id, session_id=session_id, purpose=purpose,
                            digest=_digest(purpose, session_id, code), expires_at=now + timedelta(minutes=minutes)))
    db.session.flush()
    return code, minutes


def redeem(user_id: int, session_id: int, purpose: str, typed: str, now: datetime) -> bool:
    """True when `typed` is the live code of this session and purpose, now used. A wrong code spends a try."""
    code = "".join(ch for ch in typed if not ch.isspace())
    live = db.session.scalar(select(AuthCode).where(
        AuthCode.user_id == user_id, AuthCode.session_id == session_id, AuthCode.purpose == purpose,
        AuthCode.used_at.is_(None), AuthCode.expires_at > now,
        AuthCode.tries < current_app.config["TWOFA_EMAIL_CODE_TRIES"]))
    if live is None:
        return False
    if not (code.isdigit() and hmac.compare_digest(live.digest, _digest(purpose, session_id, code))):
        db.session.execute(update(AuthCode).where(AuthCode.id == live.id)
                           .values(tries=AuthCode.tries + 1).execution_options(synchronize_session=False))
        return False
    return db.session.execute(update(AuthCode).where(AuthCode.id == live.id, AuthCode.used_at.is_(None))
                              .values(used_at=now).execution_options(synchronize_session=False)).rowcount == 1


def has_live(session_id: int, purpose: str, now: datetime) -> bool:
    return db.session.scalar(select(AuthCode.id).where(
        AuthCode.session_id == session_id, AuthCode.purpose == purpose, AuthCode.used_at.is_(None),
        AuthCode.expires_at > now).limit(1)) is not None
