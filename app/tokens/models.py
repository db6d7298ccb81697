"""API tokens and their usage log."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.api.auth import Scope as Scope  # a column type here; the scopes are the API's
from app.core.crypto import EncryptedText
from app.core.fields import check_name, in_range, one_of
from app.core.mixins import SoftDeleteMixin, TenantScopedMixin, TimestampMixin, UTCDateTime, string_enum, utcnow
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import User


class ApiToken(TenantScopedMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """A bearer token of one user in one tenant. Only an HMAC digest of the secret is stored."""

    __tablename__ = "api_token"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the owner; the token never does more than the owner may
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: the owner's label for it
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: read < write < admin
    scope: Mapped[Scope] = mapped_column(string_enum(Scope, "token_scope"), nullable=False)
    #: HMAC-SHA256 of the secret (TOKEN_HASH_KEY); the secret itself is shown once and never stored
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: prefix and last four characters, for people to recognise it
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    #: refused after this time; NULL only where tenant policy allows tokens without expiry
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    #: when it was revoked; NULL while not revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: why it was revoked (`manual`, `expired`, `chain_compromised`, ... or the admin's words)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: who revoked it; NULL for the system
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    #: last authenticated use (written at most once a minute)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: client IP of that use, encrypted
    last_used_ip: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: requests per minute allowed; NULL for no per-token limit
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: CIDRs the token may be used from; empty for anywhere
    ip_allow: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    #: CIDRs the token may never be used from; deny wins over allow
    ip_deny: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    #: when true, the first client identifier seen is the only one accepted
    device_binding: Mapped[bool] = mapped_column(nullable=False, default=False)
    #: HMAC of the bound client identifier (set at first use)
    device_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: first token of its rotation chain (itself for an original token)
    chain_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: the token that replaced this one by rotation
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id", ondelete="SET NULL"))
    #: after rotation the old secret keeps working until this time; using it later revokes the chain
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: who created it (the owner, an admin, or NULL for a command)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    tenant: Mapped[Tenant] = relationship()

    def status(self, now: datetime | None = None) -> str:
        """`active`, `rotated` (in grace), `retired`, `expired` or `revoked`."""
        return token_status(self, now)


def token_status(token, now: datetime | None = None) -> str:
    """The status of a token, an ApiToken or a row with its columns (the bearer check reads rows)."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    if token.successor_id is not None:
        return "rotated" if token.grace_until and token.grace_until > now else "retired"
    return "active"


#: every value token_status() returns: replaced tokens are `rotated` while their grace lasts, `retired` after
STATUSES = ("active", "rotated", "retired", "expired", "revoked")
#: the one check of a status filter: the pages, the API's `?status=`, `flask tokens list --status`
check_token_status = one_of(STATUSES)
NAME_MAX = 100


def check_token_name(value) -> str:
    """A token's label: trimmed, 1 to 100 characters, no control characters."""
    return check_name(value, NAME_MAX)


#: a token's own rate limit, requests per minute (the create and limits forms, the API, the service)
check_rate_limit = in_range(1, 100_000, _l("The limit is 1 to 100000 requests per minute."))
#: the tenant policy's longest token lifetime, in days
check_max_days = in_range(1, 3650, _l("The maximum lifetime is 1 to 3650 days."))
#: the tenant policy's rotation grace period, in minutes (up to 7 days)
check_grace_minutes = in_range(0, 7 * 24 * 60, _l("The grace period is 0 to 10080 minutes (7 days)."))


class TokenUsageLog(TenantScopedMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """One authenticated use (or refused attempt) of a token. Written in batches, off the request path."""

    __tablename__ = "token_usage_log"
    __table_args__ = (Index("ix_token_usage_log_token_time", "token_id", "occurred_at"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the token
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id", ondelete="CASCADE"), nullable=False)
    #: when the request arrived (UTC)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: method and route, e.g. `GET /api/v1/me`
    endpoint: Mapped[str] = mapped_column(String(128), nullable=False)
    #: `ok` or the refusal code (`expired`, `ip_denied`, ...)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    #: HTTP status of the response
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    #: request id, to find the request in the logs
    correlation_id: Mapped[str] = mapped_column(String(128), nullable=False)
    #: client IP, encrypted
    ip: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: client user agent, encrypted
    user_agent: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)


class TokenPolicy(TimestampMixin, db.Model):
    """A tenant's rules for tokens: default and maximum lifetime, whether "no expiry" is allowed, and the
    grace period of a rotated secret. A tenant without a row uses the defaults below."""

    __tablename__ = "token_policy"

    DEFAULT_DAYS = 90
    MAX_DAYS = 365
    GRACE_MINUTES = 60

    #: the tenant (one policy each)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True)
    #: lifetime of a new token when none is chosen
    default_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_DAYS)
    #: longest lifetime a token may have
    max_days: Mapped[int] = mapped_column(Integer, nullable=False, default=MAX_DAYS)
    #: whether tokens without expiry may be created
    allow_no_expiry: Mapped[bool] = mapped_column(nullable=False, default=False)
    #: how long a rotated secret keeps working
    rotation_grace_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=GRACE_MINUTES)
