"""Periodic invite maintenance."""

from __future__ import annotations

from app.core.mixins import utcnow
from app.invites.services import expire_due
from jobs import job


@job
def expire_invites() -> int:
    """Mark pending invites past their time `expired` (they are refused already: validation never depended on
    it); returns how many. Every tenant; idempotent."""
    return expire_due(utcnow())
