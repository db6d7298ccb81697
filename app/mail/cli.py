"""`flask mail send-pending` and `flask mail test --to ADDRESS`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.cli_helpers import domain_errors_as_click
from app.core.fieldadapters import Checked
from app.core.fields import check_email, check_locale
from app.extensions import db
from app.mail import services
from jobs.mail import send_pending

mail_cli = AppGroup("mail", help="Email delivery.")


@mail_cli.command("send-pending")
@click.option("--all", "include_exhausted", is_flag=True,
              help="Also messages that have used up MAIL_MAX_ATTEMPTS attempts.")
def send_pending_cmd(include_exhausted: bool) -> None:
    """Re-queue messages queued or failed for over a minute, and delete delivered ones older than
    MAIL_RETENTION_DAYS. Idempotent: a sent message is never sent again. The same job runs every 10 minutes."""
    counts = send_pending(include_exhausted)
    db.session.commit()
    click.echo(f"{counts['requeued']} messages re-queued, {counts['purged']} delivered messages purged")


@mail_cli.command("test")
@click.option("--to", "recipient", required=True, type=Checked(check_email, "ADDRESS"), help="Who gets it.")
@click.option("--locale", default="en", show_default=True, type=Checked(check_locale, "LOCALE"),
              help="Its language (en or pt_BR).")
def test_cmd(recipient: str, locale: str) -> None:
    """Queue a test message to ADDRESS, to check the SMTP settings end to end; prints the message id."""
    with domain_errors_as_click():
        message = services.queue_email(recipient, "test", locale=locale, context={})
    message_id = message.id
    db.session.commit()  # delivery starts now (an RQ job, or inline without Redis)
    db.session.expire_all()
    status = services.get_message(message_id).status.value
    click.echo(f"test message {message_id} queued to {recipient}: {status}")


def register_mail_commands(app: Flask) -> None:
    """Add the mail commands to `app`."""
    app.cli.add_command(mail_cli)
