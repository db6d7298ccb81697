"""Email: queue a message (the one way to send one), the delivery state the send job moves it through, the
periodic re-send and retention, and the development outbox's reads.

`queue_email` renders the message in the recipient's language, stores it (bodies encrypted) and flushes; it
never commits. Delivery is arranged for **after the caller's commit**: the message's id waits in the session
(`session.info`) and a listener on the session's `after_commit` hands it to `jobs.mail.dispatch` (an RQ job
with Redis; without Redis, an inline send in a fresh transaction). A rollback forgets it. So no job ever looks
for a row that is not committed, and a request that fails sends nothing (docs/decisions.md, "Email").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from babel.dates import format_datetime
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import delete, event, or_, select, update

from app.core.errors import NotFound
from app.core.fieldadapters import validated
from app.core.fields import check_email, check_locale
from app.core.mixins import utcnow
from app.core.paging import Page, page_of
from app.extensions import db
from app.mail.kinds import KINDS
from app.mail.models import EmailMessage, MailStatus

#: session.info key: ids of messages queued in this transaction, delivered once it commits
PENDING_KEY = "mail_pending_ids"
#: a queued or failed message younger than this is left alone by send-pending (its own job may be on its way)
PENDING_AFTER = timedelta(minutes=1)
#: a message claimed longer ago than this without an outcome (its worker died) may be claimed again
STALE_CLAIM = timedelta(minutes=15)
#: at most this many messages are re-queued per send-pending run
PENDING_BATCH = 500
OUTBOX_PAGE_SIZE = 25


# ---------------------------------------------------------------- queueing


def queue_email(recipient: str, kind: str, *, locale: str, context: dict) -> EmailMessage:
    """Render email `kind` for `recipient` in `locale` with `context`, store it and flush; it is sent after the
    caller commits (never before, never if the transaction rolls back).

    `recipient` and `locale` are checked by their one validator (a refusal is `ValidationFailed` on the field
    `recipient` or `locale`). An unknown kind, or a context missing a value the kind needs, is a programming
    error (`ValueError`)."""
    address = validated("recipient", check_email, recipient)
    language = validated("locale", check_locale, locale)
    subject, text, html = render(kind, language, context)
    message = EmailMessage(recipient=address, locale=language, kind=kind, subject=subject, text_body=text,
                           html_body=html, status=MailStatus.QUEUED, attempts=0)
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(message.id)
    return message


def render(kind: str, locale: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) of email `kind` in `locale`: app/templates/mail/<kind>.txt and .html.

    Rendered with the app's Jinja environment alone (no page context processors: no request, user or tenant
    reaches a mail template); the HTML part is autoescaped, the text part is not. A datetime in the context
    is written in the message's language, in UTC."""
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown mail kind {kind!r} (app.mail.kinds)")
    missing = sorted(set(found.needs) - set(context))
    if missing:
        raise ValueError(f"mail kind {kind!r} needs {', '.join(missing)} in its context")
    values = {key: _shown(value, locale) for key, value in context.items()}
    env = current_app.jinja_env
    with force_locale(locale):
        subject = str(found.subject)
        if "%(" in subject:
            subject = subject % values
        text = env.get_template(f"mail/{kind}.txt").render(**values)
        html = env.get_template(f"mail/{kind}.html").render(**values)
    return " ".join(subject.split())[:255], text, html


def _shown(value, locale: str):
    if isinstance(value, datetime):
        return format_datetime(value.astimezone(UTC), "long", tzinfo=UTC, locale=locale)
    return value


# ---------------------------------------------------------------- after commit


@event.listens_for(db.session, "after_commit")
def _deliver_after_commit(session) -> None:
    ids = session.info.pop(PENDING_KEY, None)
    if ids:
        # Imported here: a worker imports `jobs` before `app` (see app.register_commands), and this runs only
        # once an app is built and a transaction committed.
        from jobs.mail import dispatch

        dispatch(ids)


@event.listens_for(db.session, "after_rollback")
def _forget_on_rollback(session) -> None:
    session.info.pop(PENDING_KEY, None)


# ---------------------------------------------------------------- delivery state (the send job's)


def claim(message_id: int, now: datetime | None = None) -> bool:
    """Take message `message_id` for one delivery attempt: one conditional UPDATE (queued or failed, or a claim
    gone stale, becomes `sending` and counts an attempt). True when this caller got it; a sent message, or one
    another worker holds, is never claimed twice. Flushes; the job commits before it sends."""
    now = now or utcnow()
    claimable = or_(EmailMessage.status.in_([MailStatus.QUEUED, MailStatus.FAILED]),
                    (EmailMessage.status == MailStatus.SENDING) & (EmailMessage.updated_at < now - STALE_CLAIM))
    result = db.session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id, claimable)
        .values(status=MailStatus.SENDING, attempts=EmailMessage.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def finish(message_id: int, status: MailStatus, error: str | None = None) -> None:
    """Record the outcome of the attempt this caller claimed: `sent` or `outbox` (with `sent_at`), or `failed`
    with a secret-free `error`. Flushes."""
    now = utcnow()
    values: dict = {"status": status, "updated_at": now, "last_error": error[:255] if error else None}
    if status in (MailStatus.SENT, MailStatus.OUTBOX):
        values["sent_at"] = now
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message_id,
                                                  EmailMessage.status == MailStatus.SENDING)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.flush()


# ---------------------------------------------------------------- periodic: re-send, retention


def pending_ids(*, include_exhausted: bool = False, now: datetime | None = None) -> list[int]:
    """Messages that should be on their way and may not be: queued or failed for over a minute (below
    MAIL_MAX_ATTEMPTS attempts unless `include_exhausted`), or claimed by a worker that never finished. Oldest
    first, at most PENDING_BATCH."""
    now = now or utcnow()
    waiting = EmailMessage.status.in_([MailStatus.QUEUED, MailStatus.FAILED]) & (
        EmailMessage.updated_at < now - PENDING_AFTER)
    if not include_exhausted:
        waiting &= EmailMessage.attempts < current_app.config["MAIL_MAX_ATTEMPTS"]
    stale = (EmailMessage.status == MailStatus.SENDING) & (EmailMessage.updated_at < now - STALE_CLAIM)
    return list(db.session.scalars(select(EmailMessage.id).where(or_(waiting, stale))
                                   .order_by(EmailMessage.id).limit(PENDING_BATCH)))


def purge_delivered(retention_days: int | None = None) -> int:
    """Delete messages sent (or put in the development outbox) more than `retention_days` (default
    MAIL_RETENTION_DAYS) ago; returns how many. Failed and waiting messages are kept. Flushes."""
    days = retention_days if retention_days is not None else current_app.config["MAIL_RETENTION_DAYS"]
    result = db.session.execute(
        delete(EmailMessage).where(EmailMessage.status.in_([MailStatus.SENT, MailStatus.OUTBOX]),
                                   EmailMessage.sent_at < utcnow() - timedelta(days=days))
        .execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount


# ---------------------------------------------------------------- the development outbox


def outbox_available() -> bool:
    """The development outbox is open outside production, and only while no SMTP server is configured."""
    config = current_app.config
    return config.get("HUBX_ENV") != "production" and not config.get("SMTP_HOST")


def outbox_page(page: int) -> Page:
    """One page of every message, newest first (past the end: the last page)."""
    return page_of(select(EmailMessage).order_by(EmailMessage.id.desc()), page, OUTBOX_PAGE_SIZE, clamp=True)


def get_message(message_id: int) -> EmailMessage:
    """Message `message_id`, or NotFound."""
    message = db.session.get(EmailMessage, message_id)
    if message is None:
        raise NotFound()
    return message
