"""The users domain's tables: User, Profile and Membership (with its Role)."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.fields import one_of
from app.core.mixins import (
    SoftDeleteMixin,
    TenantScopedMixin,
    TimestampMixin,
    UTCDateTime,
    string_enum,
    utcnow,
)
from app.extensions import db
from app.tenants.models import Tenant

# Werkzeug's scrypt (n=2**15, r=8, p=1), the OWASP-recommended memory-hard choice.
PASSWORD_METHOD = "scrypt"  # noqa: S105 (a hash method name)


class Role(enum.StrEnum):
    """A member's role in one tenant; higher rank includes what lower ranks may do."""

    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        """True when this role ranks at or above `other`."""
        return self.rank >= other.rank

    @property
    def label(self):
        """The role's name in the UI language."""
        return _ROLE_LABELS[self]


_ROLE_RANK = {Role.OWNER: 40, Role.ADMIN: 30, Role.MANAGER: 20, Role.MEMBER: 10}
_ROLE_LABELS = {Role.OWNER: _l("owner"), Role.ADMIN: _l("admin"), Role.MANAGER: _l("manager"),
                Role.MEMBER: _l("member")}


class UserStatus(enum.StrEnum):
    """Account status; a temporary lock is `Profile.locked_until`, not a status."""

    PENDING = "pending"
    ACTIVE = "active"
    BLOCKED = "blocked"
    INACTIVE = "inactive"


class User(UserMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """A person who signs in; may belong to several tenants."""

    __tablename__ = "user_account"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sign-in name, stored lower-cased, unique across the platform
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    #: display name
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    #: Werkzeug scrypt hash; never the password
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    #: platform operator: manages global permission rules and may look into every tenant
    is_operator: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sa_false())

    profile: Mapped[Profile] = relationship(back_populates="user", uselist=False, lazy="joined")
    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="select")

    def set_password(self, password: str) -> None:
        """Store a scrypt hash of `password`."""
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        """Constant-time check of `password` against the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.id}>"


# The users list's search (`lower(col) LIKE '%text%'`, app.core.paging.contains_text) on PostgreSQL: trigram GIN
# indexes, so a substring search of a large tenant does not read the whole table (migration 0008; SQLite has no
# such index and scans).
for _column in ("email", "name"):
    Index(f"ix_user_account_{_column}_trgm", func.lower(User.__table__.c[_column]).label(f"{_column}_lower"),
          postgresql_using="gin", postgresql_ops={f"{_column}_lower": "gin_trgm_ops"}).ddl_if(dialect="postgresql")
    # a search of one or two characters matches the start (app/users/search.py): b-tree, pattern ops (migration 0009)
    Index(f"ix_user_account_{_column}_prefix", func.lower(User.__table__.c[_column]).label(f"{_column}_lower"),
          postgresql_ops={f"{_column}_lower": "text_pattern_ops"}).ddl_if(dialect="postgresql")


class Membership(TenantScopedMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """A user's place in one tenant, with exactly one role there."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the member
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: the member's role in this tenant
    role: Mapped[Role] = mapped_column(string_enum(Role, "role"), nullable=False, default=Role.MEMBER)
    #: a tenant admin suspended this membership (this tenant only); NULL while it is in force
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(back_populates="memberships")
    tenant: Mapped[Tenant] = relationship(lazy="joined")


class Profile(TimestampMixin, db.Model):
    """Security state of one user: status, temporary lock, failed sign-in counter, preferences."""

    __tablename__ = "profile"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: one profile per user
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    #: account status; only `active` may sign in
    status: Mapped[UserStatus] = mapped_column(
        string_enum(UserStatus, "user_status"), nullable=False, default=UserStatus.ACTIVE
    )
    #: sign-in refused until this time (temporary lock); NULL when not locked
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: failed sign-ins since the last success
    failed_login_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: chosen UI locale; NULL follows the tenant default, then the browser
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: IANA time zone the person reads times in; NULL follows the tenant's
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: last successful sign-in (UTC)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The second factor's state and counters (kept by app.twofactor; shown on the member's detail page):
    #: when the person's first authenticator app was confirmed; NULL: no second factor (the users list's filter)
    twofa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: second steps passed, failed; recovery codes used; second-step attempts refused by the rate limit
    twofa_successes: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    twofa_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    twofa_recovery_uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    twofa_rate_limited: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: consecutive failed second steps (a success resets it)
    twofa_failure_streak: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: second step refused until this time (after TWOFA_LOCK_AFTER consecutive failures)
    twofa_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: authenticator codes refused since (after TWOFA_DISABLE_AFTER consecutive failures): a recovery code or an
    #: admin's reset brings the factor back
    twofa_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    user: Mapped[User] = relationship(back_populates="profile")

    def is_locked(self, now: datetime | None = None) -> bool:
        """True while a temporary lock is in force."""
        return self.locked_until is not None and self.locked_until > (now or utcnow())


#: the one check of a role name (forms, the API, commands)
check_role = one_of([role.value for role in Role])
