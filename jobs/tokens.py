"""Periodic token maintenance."""

from __future__ import annotations

from jobs import job


@job
def revoke_expired_tokens() -> int:
    """Mark expired API tokens revoked (reason `expired`; they are refused already); returns how many."""
    from app.tokens.services import revoke_expired

    return revoke_expired()
