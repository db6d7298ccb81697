"""The tenants domain's table: Tenant, the organisation every tenant-owned row points to."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.mixins import SoftDeleteMixin, TimestampMixin
from app.extensions import db


class Tenant(TimestampMixin, SoftDeleteMixin, db.Model):
    """An organisation on the platform; every tenant-owned row points here."""

    __tablename__ = "tenant"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: URL name, `/t/<slug>/...`; lower-case letters, digits and dashes
    slug: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    #: display name
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    #: IANA time zone used to show times to this tenant's people
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="America/Sao_Paulo")
    #: locale for members who have not chosen one (pt_BR or en)
    default_locale: Mapped[str] = mapped_column(String(8), nullable=False, default="pt_BR")
    #: failed sign-ins before a member's account is locked, when stricter than the platform's (NULL: the platform's)
    lock_after_failures: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: roles whose members must use a second factor here, comma-separated ("owner,admin"; empty: none)
    twofa_required_roles: Mapped[str] = mapped_column(String(64), nullable=False, default="", server_default="")
    #: a member without an authenticator app may pass the second step with a code sent by email
    twofa_email_codes: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sa_false())
    #: what a new invite lasts here, in hours, when none is asked for (1 to 720, at most invite_max_ttl_hours)
    invite_ttl_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=72, server_default="72")
    #: the longest lifetime an issuer may ask for (migration 0012); at least invite_ttl_hours, at most 720
    invite_max_ttl_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=720, server_default="720")
    #: invites one person may make a day here (the day in this tenant's time zone)
    invite_daily_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=5, server_default="5")

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"
