"""The outbox: one row per email, its rendered parts encrypted at rest, its delivery state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedText
from app.core.fields import EMAIL_MAX
from app.core.mixins import TimestampMixin, UTCDateTime, string_enum
from app.extensions import db


class MailStatus(StrEnum):
    """Where a message is on its way out.

    queued -> sending -> sent; a failed attempt -> failed (retried: back to sending). Outside production and
    without SMTP, sending ends in `outbox`: kept for the development outbox page, never sent anywhere."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    OUTBOX = "outbox"

    @property
    def label(self) -> str:
        """The status in the UI language."""
        return str(_STATUS_LABELS[self])


_STATUS_LABELS = {
    MailStatus.QUEUED: _l("queued"),
    MailStatus.SENDING: _l("sending"),
    MailStatus.SENT: _l("sent"),
    MailStatus.FAILED: _l("failed"),
    MailStatus.OUTBOX: _l("in the outbox"),
}


class EmailMessage(TimestampMixin, db.Model):
    """An email to one address, rendered when it was queued. Account mail: not tenant-scoped."""

    __tablename__ = "email_message"
    __table_args__ = (Index("ix_email_message_status_updated_at", "status", "updated_at"),)

    #: surrogate key; the send job's only argument
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the address it goes to (checked by app.core.fields.check_email)
    recipient: Mapped[str] = mapped_column(String(EMAIL_MAX), nullable=False)
    #: the language it was rendered in (`en`, `pt_BR`)
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the kind of message: its templates' name (app/templates/mail/<kind>.txt and .html)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    #: the subject line, rendered
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    #: the plain-text part, encrypted (it may carry a secret link)
    text_body: Mapped[str] = mapped_column(EncryptedText(), nullable=False)
    #: the HTML part, encrypted
    html_body: Mapped[str] = mapped_column(EncryptedText(), nullable=False)
    #: queued, sending, sent, failed, or outbox (development, no SMTP)
    status: Mapped[MailStatus] = mapped_column(string_enum(MailStatus, "email_status"), nullable=False,
                                               default=MailStatus.QUEUED)
    #: delivery attempts so far (each claim counts one)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: why the last attempt failed: SMTP code and class of error, never the message or the address
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: when the SMTP server accepted it (or it landed in the development outbox)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)

    @property
    def recipient_domain(self) -> str:
        """The recipient's domain: what logs may say about the address."""
        return self.recipient.rpartition("@")[2]
