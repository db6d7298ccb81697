"""The development outbox: every message the app queued, for a developer to read (a password-reset link
included), outside production and only while no SMTP server is configured (404 otherwise). No sign-in: the
person who forgot their password must reach it."""

from __future__ import annotations

from flask import abort, render_template, request

from app.core.inputs import parse_page
from app.mail import bp, services


@bp.before_request
def _development_only():
    if not services.outbox_available():
        abort(404)


@bp.get("/outbox")
def outbox():
    """Every message, newest first, a page at a time."""
    page = services.outbox_page(parse_page(request.args.get("page")))
    return render_template("mail/pages/outbox.html", page=page)


@bp.get("/outbox/<id:message_id>")
def outbox_message(message_id: int):
    """One message: its subject, recipient, state, text part (links clickable) and HTML part (as source)."""
    return render_template("mail/pages/message.html", message=services.get_message(message_id))
