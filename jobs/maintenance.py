"""Retention: purge soft-deleted rows once they are older than the retention period."""

from __future__ import annotations

from app.core import retention
from jobs import job


@job
def purge_soft_deleted(retention_days: int | None = None) -> dict[str, int]:
    """Hard-delete rows soft-deleted more than `retention_days` ago; returns counts per table."""
    return retention.purge_soft_deleted(retention_days)
