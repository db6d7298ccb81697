"""Periodic token maintenance."""

from __future__ import annotations

from app.tokens.services import revoke_expired
from jobs import job


@job
def revoke_expired_tokens() -> int:
    """Mark expired API tokens revoked (reason `expired`; they are refused already); returns how many."""
    return revoke_expired()
