"""Shared by the invites tests: a fixed clock, an actor, audit events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.extensions import db

#: noon in São Paulo (UTC-3): 15:00 UTC
NOW = datetime(2026, 12, 5, 15, 0, 0, tzinfo=UTC)


def actor(user) -> Actor:
    return Actor(user=user, ip="203.0.113.9", user_agent="pytest", request_id="t")


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id).execution_options(all_tenants=True)))
