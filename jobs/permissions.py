"""Periodic permission maintenance."""

from __future__ import annotations

from app.permissions.services import prune_expired
from jobs import job


@job
def prune_expired_permissions() -> int:
    """Soft-delete expired permission rules (the resolver already ignores them); returns how many."""
    return prune_expired()
