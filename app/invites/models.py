"""The invites domain's tables: Invite (a personal invite or a shareable link), InviteUse (who joined by it) and
InviteQuota (the invites an issuer made on one local day: the row the daily limit locks)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.fields import FieldInvalid, check_email, in_range, one_of
from app.core.mixins import SoftDeleteMixin, TenantScopedMixin, TimestampMixin, UTCDateTime, string_enum
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Role, User


class InviteKind(enum.StrEnum):
    """A personal invite is for one person (one use, optionally bound to an email); a link is shared."""

    PERSONAL = "personal"
    LINK = "link"


class InviteStatus(enum.StrEnum):
    """`accepted`: used up (a link: its last seat taken); `expired`: marked by the scheduled job."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Invite(TenantScopedMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """An invitation to a tenant with a role. Only a keyed digest of the code is stored, with a display hint."""

    __tablename__ = "invite"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: who issued it (NULL once that account is gone)
    inviter_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    #: personal invites: the only address that may accept it (lower-cased); NULL for anyone holding the code
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    #: the role the new member gets
    role: Mapped[Role] = mapped_column(string_enum(Role, "invite_role"), nullable=False)
    #: personal or link
    kind: Mapped[InviteKind] = mapped_column(string_enum(InviteKind, "invite_kind"), nullable=False,
                                             default=InviteKind.PERSONAL)
    #: HMAC-SHA256 of the code (TOKEN_HASH_KEY); the code is shown once and never stored
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: prefix and last four characters of the code
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    #: how many people may join by it (1 for a personal invite)
    max_uses: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: how many have (seats taken, approved or waiting for approval)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: links: only addresses at this domain may join (lower-case); NULL for any
    email_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    #: links: a person who joins waits for an admin's approval before the membership exists
    needs_approval: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sa_false())
    #: the lifetime it was given, in hours (a resend or renewal gives the same again)
    ttl_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    #: refused from this time on
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    #: pending, accepted, revoked or expired
    status: Mapped[InviteStatus] = mapped_column(string_enum(InviteStatus, "invite_status"), nullable=False,
                                                 default=InviteStatus.PENDING, index=True)
    #: when it was used up
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: when it was revoked, and by whom
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    inviter: Mapped[User | None] = relationship(foreign_keys=[inviter_id])
    tenant: Mapped[Tenant] = relationship()


class InviteUse(TenantScopedMixin, TimestampMixin, SoftDeleteMixin, db.Model):
    """One person's use of an invite: the seat they took, and the membership it gave (NULL while a link's join
    waits for approval; a declined join is soft-deleted)."""

    __tablename__ = "invite_use"
    __table_args__ = (UniqueConstraint("invite_id", "user_id"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the invite
    invite_id: Mapped[int] = mapped_column(ForeignKey("invite.id", ondelete="CASCADE"), nullable=False, index=True)
    #: the person who joined
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    #: the membership it gave; NULL while waiting for approval
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id", ondelete="SET NULL"))
    #: when an admin approved it (or when it was accepted, for invites that need no approval)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    invite: Mapped[Invite] = relationship()
    user: Mapped[User] = relationship()


class InviteQuota(TenantScopedMixin, TimestampMixin, db.Model):
    """How many invites one issuer made on one day of the tenant's calendar: the row a new invite increments with
    a conditional UPDATE, so parallel issuances never pass the daily limit."""

    __tablename__ = "invite_quota"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer_id", "day"),)

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the issuer
    issuer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False)
    #: the day, in the tenant's time zone
    day: Mapped[date] = mapped_column(Date, nullable=False)
    #: invites made (issued, resent or renewed) that day
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


# ---------------------------------------------------------------- one check per field (forms, API, commands)

TTL_MAX_HOURS = 30 * 24
MAX_USES_MAX = 1000
DAILY_LIMIT_MAX = 1000

#: the role an invite grants
check_invite_role = one_of([role.value for role in Role])
#: an invite's lifetime in hours, and a tenant's longest one (up to 30 days)
check_ttl_hours = in_range(1, TTL_MAX_HOURS, _l("An invite lasts 1 to 720 hours (30 days)."))
#: how many people may join by one link
check_max_uses = in_range(1, MAX_USES_MAX, _l("A link admits 1 to 1000 people."))
#: invites one person may make a day (a tenant setting)
check_daily_limit = in_range(1, DAILY_LIMIT_MAX, _l("The daily limit is 1 to 1000 invites."))
#: an invite's kind
check_invite_kind = one_of([kind.value for kind in InviteKind])
#: a status filter
check_invite_status = one_of([status.value for status in InviteStatus])


def check_invite_email(value) -> str:
    """The address a personal invite is for: as `check_email` normalises it."""
    return check_email(value)


def check_email_domain(value) -> str:
    """A link's email domain: `example.com` (an `@` in front is dropped), lower-cased, a domain an address may
    have."""
    if not isinstance(value, str):
        raise FieldInvalid(_l("Enter text."))
    domain = value.strip().lstrip("@").lower()
    try:
        check_email(f"someone@{domain}")
    except FieldInvalid:
        raise FieldInvalid(_l("Enter a domain such as example.com.")) from None
    if not domain or "@" in domain:
        raise FieldInvalid(_l("Enter a domain such as example.com."))
    return domain
