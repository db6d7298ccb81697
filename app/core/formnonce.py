"""One-time form nonces: a form sent twice (a double click, a reload of the POST, the back button and send
again) is acted on once.

Every form the form helper handles (app/core/forms.py) carries a nonce in a hidden field: a random part, the
time it was issued, and an HMAC of both under SECRET_KEY, so it cannot be forged or made to look younger.
Issuing stores nothing. Acting on a form spends its nonce: the random part is inserted into `spent_form_nonce`
with `ON CONFLICT DO NOTHING`, in the request's own transaction, before the service runs. A second submit of
the same form finds the row and is refused; two submits racing each other are ordered by the primary key (on
PostgreSQL the second waits for the first to commit), so only one of them acts, in every process and machine.
A refused or failed submit rolls back with everything else, leaving its nonce unspent: the form, corrected,
can be sent again. Nonces live as long as a session may (SESSION_ABSOLUTE_HOURS); older ones are refused,
and `purge_spent()` (run by the daily retention job) deletes the rows nobody can use any more.

The session cookie could not hold the spent set: a double click sends both requests with the same cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta
from enum import Enum

from flask import current_app
from sqlalchemy import String, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from app.core.mixins import UTCDateTime, utcnow
from app.extensions import db

#: the name of the hidden field, whatever the form's prefix
FIELD = "form_nonce"


class SpentNonce(db.Model):
    """A form nonce that has been acted on (neither tenant-owned nor soft-deleted: a row is a fact about one
    submit, purged once its nonce is too old to be accepted anyway)."""

    __tablename__ = "spent_form_nonce"

    #: the nonce's random part
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: when the form carrying it was acted on (UTC)
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class Verdict(Enum):
    """What spending a nonce found."""

    FRESH = "fresh"  # issued here, young enough, never spent: spent now
    SPENT = "spent"  # this form was acted on already
    INVALID = "invalid"  # missing, malformed, forged or too old


def issue() -> str:
    """A new nonce for one rendering of a form: `random.issued.mac`."""
    random_part, issued = secrets.token_urlsafe(16), str(int(time.time()))
    return f"{random_part}.{issued}.{_mac(random_part, issued)}"


def spend(nonce: str | None) -> Verdict:
    """Spend `nonce` in the current transaction (flushed at once); FRESH only the first time it is spent."""
    random_part = _check(nonce)
    if random_part is None:
        return Verdict.INVALID
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = SpentNonce.__table__
    inserted = db.session.execute(  # RETURNING: a row only when this INSERT added it (rowcount is not portable)
        insert(table).values(nonce=random_part, spent_at=utcnow()).on_conflict_do_nothing().returning(table.c.nonce)
    ).scalar()
    return Verdict.FRESH if inserted is not None else Verdict.SPENT


def purge_spent(now: datetime | None = None) -> int:
    """Delete spent nonces older than a nonce may be (they are refused as too old anyway); returns how many.
    Flushes; the caller commits."""
    cutoff = (now or utcnow()) - timedelta(seconds=max_age())
    return db.session.execute(delete(SpentNonce).where(SpentNonce.spent_at < cutoff)).rowcount


def max_age() -> int:
    """Seconds a nonce is accepted: as long as the session that showed the form may last."""
    return int(current_app.config.get("SESSION_ABSOLUTE_HOURS", 12)) * 3600


def _check(nonce: str | None) -> str | None:
    """The random part of a well-formed, authentic nonce that is not too old, else None."""
    if not nonce or len(nonce) > 200 or not nonce.isascii():
        return None
    parts = nonce.split(".")
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit() or len(parts[0]) > 32:
        return None
    random_part, issued, mac = parts
    if not hmac.compare_digest(mac, _mac(random_part, issued)):
        return None
    age = time.time() - int(issued)
    return random_part if -60 <= age <= max_age() else None


def _mac(random_part: str, issued: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"form-nonce|{random_part}|{issued}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]
