"""Email delivery jobs: send one message by id, re-send what is pending and purge what was delivered.

A message reaches `send_email` only after the transaction that stored it committed (`dispatch`, called by the
mail services' after-commit listener). The job's only argument is the message id; addresses and bodies stay in
the database (bodies encrypted). Logs name the message id, its kind and the recipient's domain, never the
address, the body or a link.
"""

from __future__ import annotations

import logging

from flask import current_app
from rq import Retry

from app.extensions import db
from app.mail import services
from app.mail.models import EmailMessage, MailStatus
from app.mail.transport import DeliveryFailed, build_mime, send, smtp_configured
from jobs import enqueue, job

log = logging.getLogger(__name__)

#: RQ retries of a failed send: after 10 s, 1 min, 5 min, 15 min, 1 h. After that, `send_pending` (every 10
#: minutes) takes the message up again, up to MAIL_MAX_ATTEMPTS attempts.
RETRY = Retry(max=5, interval=[10, 60, 300, 900, 3600])


class MailNotConfigured(DeliveryFailed):
    """Production without SMTP: the message waits (failed) until SMTP is configured and send-pending runs."""


@job
def send_email(message_id: int) -> str:
    """Deliver message `message_id` once: claim it (a conditional UPDATE, committed), send it, record the
    outcome. Returns `sent`, `outbox` (development, no SMTP) or `skipped` (already sent, or claimed by another
    worker, or gone). A failed attempt is recorded, committed, and raised as `DeliveryFailed`, so RQ retries."""
    if not services.claim(message_id):
        db.session.commit()
        return "skipped"
    db.session.commit()  # the claim is visible to every other worker before anything goes out
    message = db.session.get(EmailMessage, message_id)
    try:
        if not smtp_configured():
            if current_app.config.get("HUBX_ENV") == "production":
                raise MailNotConfigured("SMTP is not configured")
            services.finish(message_id, MailStatus.OUTBOX)
            db.session.commit()
            log.info("email %d (%s) to an address at %s is in the development outbox: /dev/outbox/%d",
                     message_id, message.kind, message.recipient_domain, message_id)
            return MailStatus.OUTBOX.value
        send(build_mime(message))
    except DeliveryFailed as exc:
        services.finish(message_id, MailStatus.FAILED, str(exc))
        db.session.commit()
        log.warning("email %d (%s) to an address at %s: attempt %d failed: %s",
                    message_id, message.kind, message.recipient_domain, message.attempts, exc)
        raise
    services.finish(message_id, MailStatus.SENT)
    db.session.commit()
    log.info("email %d (%s) sent to an address at %s", message_id, message.kind, message.recipient_domain)
    return MailStatus.SENT.value


def dispatch(message_ids: list[int]) -> None:
    """Start delivering committed messages: an RQ job each (with retries) when Redis is configured; without
    Redis, send them now, one by one, each in a fresh transaction of its own (a fresh app context: the caller's
    session has just committed and may not be used inside its commit).

    Never raises: a message that could not be queued or sent stays queued or failed, and `send_pending`
    takes it up again, so nothing is lost."""
    app = current_app._get_current_object()
    if app.config.get("REDIS_URL"):
        for message_id in message_ids:
            try:
                enqueue(send_email, message_id, retry=RETRY)
            except Exception:  # noqa: BLE001 (Redis away: send-pending re-queues it)
                log.warning("email %d could not be queued; send-pending will retry it", message_id)
        return
    for message_id in message_ids:
        with app.app_context():
            try:
                send_email(message_id)
            except DeliveryFailed:
                pass  # recorded and logged by send_email
            except Exception:  # noqa: BLE001 (a database hiccup: the message waits for send-pending)
                db.session.rollback()
                log.exception("email %d: delivery failed; send-pending will retry it", message_id)


@job
def send_pending(include_exhausted: bool = False) -> dict[str, int]:
    """Re-queue messages that are queued or failed for over a minute (or claimed by a worker that died), and
    delete delivered messages older than MAIL_RETENTION_DAYS. Idempotent: a message already sent is never
    sent again. Returns {"requeued": n, "purged": n}."""
    purged = services.purge_delivered()
    ids = services.pending_ids(include_exhausted=include_exhausted)
    db.session.commit()
    dispatch(ids)
    return {"requeued": len(ids), "purged": purged}
