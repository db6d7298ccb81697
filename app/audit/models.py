"""AuditEvent rows and the per-chain head that keeps the hash chain linear."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.core.mixins import TenantGuarded, TimestampMixin, UTCDateTime, utcnow
from app.extensions import db


class AuditEvent(TenantGuarded, TimestampMixin, db.Model):
    """One security-relevant event. Append-only: never updated, never soft-deleted.

    Events of one tenant (or of the platform, tenant NULL) form a chain: each row's `hash` covers
    its own fields and the previous row's hash, so a changed or removed row breaks every later hash.
    """

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: owning tenant; NULL for platform events (sign-in, operator actions)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: chain name: "t<tenant id>" or "platform"
    chain: Mapped[str] = mapped_column(String(32), nullable=False)
    #: position in the chain, 1-based, gap-free
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    #: when it happened (UTC)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    #: dotted action name, e.g. `auth.login_succeeded`
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    #: who did it; NULL for anonymous or system actors
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True
    )
    #: kind of the thing acted on (`user`, `tenant`, `token`, ...)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: id of the thing acted on, as text
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: outcome: `success` or `failure`
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="success")
    #: client IP, encrypted
    ip: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: client user agent, encrypted
    user_agent: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: request id for correlation with logs
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: extra details (never secrets)
    details: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    #: hash of the previous event in the chain ("" for the first)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: SHA-256 over prev_hash and this event's fields
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditChainHead(db.Model):
    """The last seq and hash of each chain; its row lock serialises writers of one chain."""

    __tablename__ = "audit_chain_head"

    #: chain name, as in AuditEvent.chain
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: seq of the newest event
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: hash of the newest event
    hash: Mapped[str] = mapped_column(String(64), nullable=False, default="")
