"""The sessions domain's table: UserSession, one signed-in browser."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedText
from app.core.mixins import TimestampMixin, UTCDateTime
from app.extensions import db
from app.users.models import User


class EndReason:
    """Why a session ended (kept on the row until the clean-up deletes it; a sign-out deletes it at once)."""

    IDLE = "idle"
    EXPIRED = "expired"
    ENDED_BY_USER = "ended_by_user"
    ENDED_BY_ADMIN = "ended_by_admin"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason code)
    BLOCKED = "blocked"
    REMOVED = "removed"
    RENEWED = "renewed"  # replaced by a new id at a privilege change


class SessionStage:
    """How far sign-in got (`UserSession.stage`); None is signed in."""

    SECOND_FACTOR = "second_factor"
    ENROLL = "enroll"


class UserSession(TimestampMixin, db.Model):
    """A signed-in browser: the cookie carries a random id, this row only its digest."""

    __tablename__ = "user_session"

    #: surrogate key (shown on pages; never a credential)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the person signed in
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: keyed digest (HMAC-SHA256) of the random session id in the cookie; the id itself is never stored
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: the tenant the person last opened in this session (NULL: none yet)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="SET NULL"), index=True,
                                                  nullable=True)
    #: client address at sign-in, encrypted
    ip: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: user agent at sign-in, encrypted
    user_agent: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    #: a readable device label derived from the user agent ("Chrome on Linux")
    device: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    #: when the password was checked for this session (a renewed id keeps it)
    signed_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: last request that counted as activity (written at most once a minute)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    #: absolute end of the session, whatever the activity
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: when the session was ended (by time-out, the person, an admin); NULL while live
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: why it ended (EndReason)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: how far sign-in got: NULL signed in; `second_factor` waiting for the second step; `enroll` must set up a
    #: second factor first (SessionStage). A session short of NULL reaches only the routes marked for its stage.
    stage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the last time the person proved themselves again in this session (password or code; the step-up)
    reauth_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(lazy="raise")
