"""Retention: rows soft-deleted longer ago than the retention period are purged for good."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete

from app.core.formnonce import SpentNonce, purge_spent
from app.core.mixins import SoftDeleteMixin, utcnow
from app.extensions import db


def soft_delete_models() -> list[type]:
    """Every mapped model with soft delete, children before parents (tenant last). The app imports every
    domain's models when it is built (`app.models`), so the registry holds them all."""
    models = [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, SoftDeleteMixin)]
    order = {t: i for i, t in enumerate(reversed(db.metadata.sorted_tables))}
    return sorted(models, key=lambda m: order[m.__table__])


def purge_soft_deleted(retention_days: int | None = None) -> dict[str, int]:
    """Hard-delete rows soft-deleted more than `retention_days` (default SOFT_DELETE_RETENTION_DAYS) ago, and spent
    form nonces too old to be accepted; returns counts per table. Flushes; the caller commits."""
    days = retention_days if retention_days is not None else current_app.config["SOFT_DELETE_RETENTION_DAYS"]
    cutoff = utcnow() - timedelta(days=days)
    counts = {}
    for model in soft_delete_models():
        result = db.session.execute(
            delete(model).where(model.deleted_at.is_not(None), model.deleted_at < cutoff)
            .execution_options(include_deleted=True, all_tenants=True, synchronize_session=False)
        )
        counts[model.__tablename__] = result.rowcount
    # Spent form nonces are kept only while a form could still carry them (app.core.formnonce).
    counts[SpentNonce.__tablename__] = purge_spent()
    db.session.flush()
    return counts
