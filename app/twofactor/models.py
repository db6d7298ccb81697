"""The second factor's tables: authenticator apps (TotpDevice), recovery codes, one-time codes sent by email
(AuthCode) and browsers that skip the second step for a while (RememberedBrowser)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.mixins import TimestampMixin, UTCDateTime
from app.extensions import db


class TotpDevice(TimestampMixin, db.Model):
    """An authenticator app (RFC 6238). Active once a code from it was accepted (`confirmed_at`); an unconfirmed
    one is an enrollment in progress and lapses after TWOFA_ENROLL_MINUTES."""

    __tablename__ = "totp_device"

    #: surrogate key
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: whose app it is
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: the name the person gave it ("Phone")
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    #: the 160-bit base32 secret, sealed by app.twofactor.secrets ("f:" MultiFernet token, or "p:" plain when
    #: TWOFA_ENCRYPT_SECRETS is off); never shown after enrollment
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    #: when a first code from it was accepted; NULL while enrolling
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the last 30-second step accepted: a code of this step or an earlier one is a replay
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: when a code from it last passed
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RecoveryCode(TimestampMixin, db.Model):
    """One single-use recovery code, kept as a salted slow hash (TWOFA_RECOVERY_HASH_METHOD)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: werkzeug hash of the normalised code
    code_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    #: when it was used; NULL while it still works
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthCode(TimestampMixin, db.Model):
    """A one-time code sent by email, bound to the session (sign-in attempt or step-up) it was issued for."""

    __tablename__ = "auth_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: `sign_in` (the second step) or `step_up` (confirming a sensitive action)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the session it was issued in: only that session may use it
    session_id: Mapped[int] = mapped_column(ForeignKey("user_session.id", ondelete="CASCADE"), index=True)
    #: keyed digest of the code (HMAC-SHA256 with the purpose and session), never the code
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: wrong codes typed against it (at most TWOFA_EMAIL_CODE_TRIES)
    tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: when it was used, or replaced by a newer code; NULL while it works
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RememberedBrowser(TimestampMixin, db.Model):
    """A browser the person chose to remember at the second step: it skips that step until `expires_at`."""

    __tablename__ = "remembered_browser"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    #: keyed digest of the random id in the browser's cookie
    digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    #: "Chrome on Linux"
    device: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
