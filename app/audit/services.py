"""Recording and verifying audit events."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.audit.models import AuditChainHead, AuditEvent
from app.core.mixins import utcnow
from app.extensions import db

PLATFORM_CHAIN = "platform"


def chain_name(tenant_id: int | None) -> str:
    """The chain an event of `tenant_id` belongs to."""
    return f"t{tenant_id}" if tenant_id is not None else PLATFORM_CHAIN


def _event_hash(prev_hash: str, event: AuditEvent) -> str:
    # Keyed (HMAC) so that someone who can write to the database cannot forge a consistent chain,
    # and so that low-entropy fields such as the IP cannot be recovered by hashing guesses.
    payload = json.dumps(
        {
            "prev": prev_hash,
            "chain": event.chain,
            "seq": event.seq,
            "at": event.occurred_at.isoformat(timespec="microseconds"),
            "action": event.action,
            "actor": event.actor_user_id,
            "target": [event.target_type, event.target_id],
            "outcome": event.outcome,
            "ip": event.ip,
            "ua": event.user_agent,
            "rid": event.request_id,
            "details": event.details,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    key = current_app.config["TOKEN_HASH_KEY"].encode()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _lock_head(chain: str) -> AuditChainHead:
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(AuditChainHead).values(chain=chain, seq=0, hash="").on_conflict_do_nothing())
    return db.session.execute(
        select(AuditChainHead)
        .where(AuditChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def record(
    action: str,
    *,
    tenant_id: int | None = None,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    outcome: str = "success",
    ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to its tenant's chain (flushes; the caller's transaction commits it).

    The chain head row is locked until commit, so concurrent writers of one chain queue up
    instead of forking it; other tenants' chains are not blocked.
    """
    chain = chain_name(tenant_id)
    head = _lock_head(chain)
    event = AuditEvent(
        tenant_id=tenant_id,
        chain=chain,
        seq=head.seq + 1,
        occurred_at=utcnow(),
        action=action,
        actor_user_id=actor_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        details=details or {},
        prev_hash=head.hash,
    )
    event.hash = _event_hash(head.hash, event)
    head.seq, head.hash = event.seq, event.hash
    db.session.add(event)
    db.session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying one chain."""

    chain: str
    events: int
    ok: bool
    broken_at_seq: int | None = None


def verify_chain(chain: str) -> ChainReport:
    """Recompute every hash of `chain`; report the first event that does not match."""
    prev = ""
    count = 0
    rows = db.session.execute(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        .execution_options(all_tenants=True, yield_per=500)
    ).scalars()
    for expected_seq, event in enumerate(rows, start=1):
        count += 1
        if event.seq != expected_seq or event.prev_hash != prev or _event_hash(prev, event) != event.hash:
            return ChainReport(chain, count, False, event.seq)
        prev = event.hash
    return ChainReport(chain, count, True)


def chains() -> list[str]:
    """Every chain that has events."""
    return list(db.session.execute(select(AuditChainHead.chain).order_by(AuditChainHead.chain)).scalars())


def recent_events(tenant_id: int, user_id: int, *, limit: int = 10) -> list[AuditEvent]:
    """The latest events of the tenant's trail by or about a person, newest first."""
    about = (AuditEvent.target_type == "user") & (AuditEvent.target_id == str(user_id))
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, about | (AuditEvent.actor_user_id == user_id))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)))
