"""Remembered browsers: at the second step a person may have this browser skip it for TWOFA_REMEMBER_DAYS. The
browser keeps a random id in a signed, HttpOnly cookie; the table keeps its digest, listed and revocable under
/account/security. An admin's reset of the person's second factor forgets them all."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from app.core.crypto import crypto
from app.extensions import db
from app.twofactor.models import RememberedBrowser


def _digest(raw: str) -> str:
    return crypto().digest(f"remembered-browser:{raw}")


def remember(user_id: int, device: str, now: datetime, days: int) -> tuple[str, RememberedBrowser]:
    raw = secrets.token_urlsafe(32)
    row = RememberedBrowser(user_id=user_id, digest=_digest(raw), device=device[:80],
                            expires_at=now + timedelta(days=days), last_used_at=now)
    db.session.add(row)
    db.session.flush()
    return raw, row


def recognise(user_id: int, raw: str | None, now: datetime) -> bool:
    """True when `raw` (the cookie) names a live remembered browser of this person (noted as used)."""
    if not raw or len(raw) > 100:
        return False
    return db.session.execute(
        update(RememberedBrowser)
        .where(RememberedBrowser.digest == _digest(raw), RememberedBrowser.user_id == user_id,
               RememberedBrowser.expires_at > now)
        .values(last_used_at=now).execution_options(synchronize_session=False)).rowcount == 1


def listed(user_id: int, now: datetime) -> list[RememberedBrowser]:
    return list(db.session.scalars(select(RememberedBrowser)
                                   .where(RememberedBrowser.user_id == user_id, RememberedBrowser.expires_at > now)
                                   .order_by(RememberedBrowser.created_at.desc())))


def is_this_one(row: RememberedBrowser, raw: str | None) -> bool:
    return bool(raw) and len(raw) <= 100 and row.digest == _digest(raw)


def forget(user_id: int, browser_id: int | None = None) -> int:
    """Forget one remembered browser of the person, or all of them; returns how many."""
    statement = delete(RememberedBrowser).where(RememberedBrowser.user_id == user_id)
    if browser_id is not None:
        statement = statement.where(RememberedBrowser.id == browser_id)
    return db.session.execute(statement).rowcount
