"""Model mixins every table uses: timestamps, soft delete, tenant ownership; portable column types."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, ForeignKey, Integer, TypeDecorator
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC that always comes back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def string_enum(enum_cls, name: str) -> Enum:
    """A column type for a string `enum.Enum`: stored as its values in a plain string column with a CHECK
    constraint named `name` (portable, and a new value needs no type migration)."""
    return Enum(enum_cls, name=name, native_enum=False, length=16,
                values_callable=lambda e: [m.value for m in e], create_constraint=True)


class TimestampMixin:
    """created_at and updated_at, kept by the database session."""

    #: when the row was created (UTC)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    #: when the row last changed (UTC)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed: `deleted_at` set means deleted.

    Queries hide deleted rows by default (see `core.tenancy`); pass
    `execution_options(include_deleted=True)` to see them. A retention job purges them later.
    """

    #: when the row was soft-deleted; NULL while it is live
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        """Hide the row; it stays restorable until the retention job purges it."""
        self.deleted_at = utcnow()

    def restore(self) -> None:
        """Bring a soft-deleted row back."""
        self.deleted_at = None


class TenantGuarded:
    """Marker: the tenant guard filters queries of this model by `tenant_id` (see core.tenancy)."""


class TenantScopedMixin(TenantGuarded):
    """A row owned by one tenant; the tenant guard filters queries by `tenant_id`."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:  # noqa: N805 (SQLAlchemy's declared_attr convention)
        #: the owning tenant
        return mapped_column(Integer, ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False, index=True)
