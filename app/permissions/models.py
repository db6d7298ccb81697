"""PermissionRule rows and the per-user policy version that invalidates every process's cache."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.mixins import SoftDeleteMixin, TenantGuarded, TimestampMixin, UTCDateTime, string_enum, utcnow
from app.extensions import db
from app.users.models import User


class Effect(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class PermissionRule(TenantGuarded, TimestampMixin, SoftDeleteMixin, db.Model):
    """An allow or deny for one user: a module or one action, optionally one resource, in one tenant
    (tenant scope) or everywhere (global scope, `tenant_id` NULL, set by platform operators only)."""

    __tablename__ = "permission_rule"
    __table_args__ = (Index("ix_permission_rule_subject", "user_id", "tenant_id"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the tenant it applies in; NULL for a global rule (applies in every tenant)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    #: the user it is about
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False)
    #: allow or deny; deny beats allow wherever they meet
    effect: Mapped[Effect] = mapped_column(string_enum(Effect, "permission_effect"), nullable=False)
    #: catalogue module, e.g. `tokens`
    module: Mapped[str] = mapped_column(String(32), nullable=False)
    #: catalogue action, e.g. `create`; NULL means every action of the module
    action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: kind of the one resource it is limited to (e.g. `token`); NULL for every resource
    resource_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: id of that resource, as text
    resource_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: after this the rule is ignored (and pruned later); NULL for no expiry
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: why the rule exists, shown in every explanation
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: who created it
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

    @property
    def target(self) -> str:
        """`module.action` or `module.*`."""
        return f"{self.module}.{self.action or '*'}"

    @property
    def resource(self) -> str | None:
        return f"{self.resource_type}:{self.resource_id}" if self.resource_type else None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())


class PolicyVersion(db.Model):
    """A counter per user, bumped by every change that can alter the user's decisions or what their compiled
    policy holds: rules (by the application, `bump_policy_version`), and role, membership, status, lock, operator
    flag, identity and the tenant (by the database's triggers, migration 0004). Cached policies carry the version
    they were built at; every process re-reads it once per request, so a change anywhere takes effect on the next
    request everywhere."""

    __tablename__ = "policy_version"

    #: the user whose policy changed
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    #: incremented on each change
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
