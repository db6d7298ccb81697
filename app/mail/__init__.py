"""Email delivery: an outbox table of messages (bodies encrypted), one job that sends a message by id through
SMTP, and, outside production without SMTP, a development outbox page at /dev/outbox.

The one way to send an email is `app.mail.services.queue_email`; the kinds of message are in `app.mail.kinds`."""

from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/dev")
