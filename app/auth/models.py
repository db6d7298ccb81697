"""The auth domain's table: PasswordReset, a single-use link to choose a new password."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.mixins import TimestampMixin, UTCDateTime
from app.extensions import db


class PasswordReset(TimestampMixin, db.Model):
    """A password-reset link: only its digest is kept; it works once, until `expires_at`."""

    __tablename__ = "password_reset"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: whose password the link resets
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: keyed digest (HMAC-SHA256) of the secret in the link
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: the admin who sent it; NULL when the person asked for it ("forgot password")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                        nullable=True)
    #: the link stops working at this time
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: when it was used; a used link never works again
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
