"""queue_email: the one validator, rendering in the message's language, bodies encrypted at rest, delivery only
after the commit; send-pending and retention; the mail commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from app.core.crypto import crypto
from app.core.errors import ValidationFailed
from app.core.mixins import utcnow
from app.extensions import db
from app.mail import services
from app.mail.models import EmailMessage, MailStatus
from app.mail.services import PENDING_KEY, queue_email
from tests.core.test_i18n import compiled_catalog  # noqa: F401 (the pt_BR catalogue, compiled)
from tests.mail.conftest import RESET_LINK

RESET = {"name": "Ana", "link": RESET_LINK, "minutes": 30}


def _reload(message_id: int) -> EmailMessage:
    db.session.expire_all()
    return db.session.get(EmailMessage, message_id)


def _age(message_id: int, minutes: int) -> None:
    """Make a message look untouched for `minutes` (send-pending leaves younger ones to their own job)."""
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message_id)
                       .values(updated_at=utcnow() - timedelta(minutes=minutes)))
    db.session.commit()


# ---------------------------------------------------------------- rendering


@pytest.mark.usefixtures("compiled_catalog")
def test_password_reset_in_english_and_portuguese(app):
    en = queue_email("Ana@Example.com", "password_reset", locale="en", context=RESET)
    pt = queue_email("ana@example.com", "password_reset", locale="pt_BR", context=RESET)
    assert en.recipient == "ana@example.com"  # the one validator's normal form
    assert en.subject == "Reset your Hubx Access password"
    assert en.text_body.startswith("Hello Ana,\n\nSomeone asked to reset the password")
    assert RESET_LINK in en.text_body and "for 30 minutes" in en.text_body
    assert f'<a href="{RESET_LINK}">Choose a new password</a>' in en.html_body
    assert '<html lang="en">' in en.html_body
    assert pt.subject == "Redefina sua senha do Hubx Access"
    assert pt.text_body.startswith("Olá, Ana,\n\nAlguém pediu para redefinir a senha")
    assert "por 30 minutos" in pt.text_body and RESET_LINK in pt.text_body
    assert '<html lang="pt-BR">' in pt.html_body and "Escolher uma nova senha" in pt.html_body
    assert (en.locale, pt.locale) == ("en", "pt_BR")


@pytest.mark.usefixtures("compiled_catalog")
def test_password_changed_writes_the_time_in_the_language(app):
    when = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    en = queue_email("bo@example.com", "password_changed", locale="en", context={"name": "", "when": when})
    pt = queue_email("bo@example.com", "password_changed", locale="pt_BR", context={"name": "", "when": when})
    assert en.text_body.startswith("Hello,\n")
    assert "changed on March 5, 2026" in en.text_body and "UTC" in en.text_body
    assert "alterada em 5 de março de 2026" in pt.text_body
    assert pt.subject == "Sua senha do Hubx Access foi alterada"


def test_test_message_and_html_is_plain_and_escaped(app):
    message = queue_email("ops@example.com", "test", locale="en", context={})
    assert message.subject == "Hubx Access test message"
    assert "test message from Hubx Access" in message.text_body
    reset = queue_email("x@example.com", "password_reset", locale="en",
                        context={**RESET, "name": '<img src="https://evil.example/x">'})
    assert "<img" not in reset.html_body and "&lt;img" in reset.html_body
    assert '<img src="https://evil.example/x">' in reset.text_body  # text is text
    for html in (message.html_body, reset.html_body):  # plain tags only: nothing loaded, no style, no script
        assert set(re.findall(r"<(\w+)", html)) <= {"html", "head", "meta", "title", "body", "p", "a", "br"}
        assert not re.search(r"<[^>]*\b(style|src|on\w+)=", html)


def test_recipient_and_locale_have_their_one_validator(app):
    with pytest.raises(ValidationFailed) as refused:
        queue_email("not-an-address", "test", locale="en", context={})
    assert refused.value.field == "recipient"
    with pytest.raises(ValidationFailed) as refused:
        queue_email("someone@mail.test", "test", locale="en", context={})  # special-use domain: refused everywhere
    assert refused.value.field == "recipient"
    with pytest.raises(ValidationFailed) as refused:
        queue_email("a@example.com", "test", locale="fr", context={})
    assert refused.value.field == "locale"
    assert db.session.scalar(select(EmailMessage.id)) is None


def test_unknown_kind_and_missing_context_are_programming_errors(app):
    with pytest.raises(ValueError, match="unknown mail kind"):
        queue_email("a@example.com", "no_such_kind", locale="en", context={})
    with pytest.raises(ValueError, match="link, minutes"):
        queue_email("a@example.com", "password_reset", locale="en", context={"name": "Ana"})


def test_bodies_are_encrypted_at_rest(app):
    message_id = queue_email("ana@example.com", "password_reset", locale="en", context=RESET).id
    db.session.commit()
    raw_text, raw_html = db.session.execute(
        text("SELECT text_body, html_body FROM email_message WHERE id = :id"), {"id": message_id}).one()
    assert "SECRET-reset-token" not in raw_text and "SECRET-reset-token" not in raw_html
    assert RESET_LINK in crypto().decrypt(raw_text) and RESET_LINK in crypto().decrypt(raw_html)
    assert RESET_LINK in _reload(message_id).text_body


# ---------------------------------------------------------------- after the commit, never before


def test_delivery_waits_for_the_commit(app):
    message = queue_email("ana@example.com", "test", locale="en", context={})
    message_id = message.id
    assert db.session.info[PENDING_KEY] == [message_id]
    db.session.flush()
    assert message.status == MailStatus.QUEUED and message.attempts == 0  # nothing ran yet
    db.session.commit()
    delivered = _reload(message_id)
    assert delivered.status == MailStatus.OUTBOX and delivered.attempts == 1 and delivered.sent_at is not None
    assert PENDING_KEY not in db.session.info


def test_a_rollback_sends_nothing(app, monkeypatch):
    dispatched = []
    monkeypatch.setattr("jobs.mail.dispatch", dispatched.append)
    queue_email("ana@example.com", "test", locale="en", context={})
    db.session.rollback()
    db.session.commit()
    assert dispatched == [] and db.session.scalar(select(EmailMessage.id)) is None
    kept = queue_email("ana@example.com", "test", locale="en", context={}).id
    db.session.commit()
    assert dispatched == [[kept]]  # the job gets the id, and nothing else


# ---------------------------------------------------------------- send-pending and retention


def test_send_pending_requeues_waiting_mail_and_purges_old_delivered_mail(app, run, monkeypatch):
    dispatched = []
    monkeypatch.setattr("jobs.mail.dispatch", dispatched.append)
    waiting, young, old, recent, failed_out = (
        queue_email("ana@example.com", "test", locale="en", context={}).id for _ in range(5))
    db.session.commit()
    dispatched.clear()
    db.session.execute(update(EmailMessage).where(EmailMessage.id.in_([old, recent]))
                       .values(status=MailStatus.SENT, sent_at=utcnow() - timedelta(days=31)))
    db.session.execute(update(EmailMessage).where(EmailMessage.id == recent).values(sent_at=utcnow()))
    db.session.execute(update(EmailMessage).where(EmailMessage.id == failed_out)
                       .values(status=MailStatus.FAILED, attempts=app.config["MAIL_MAX_ATTEMPTS"]))
    db.session.commit()
    for message_id in (waiting, old, recent, failed_out):
        _age(message_id, 5)

    result = run("mail", "send-pending")
    assert result.exit_code == 0, result.output
    assert "1 messages re-queued, 1 delivered messages purged" in result.output
    assert dispatched == [[waiting]]  # not the young one (its own job may be on its way), not the exhausted one
    assert {m.id for m in db.session.scalars(select(EmailMessage))} == {waiting, young, recent, failed_out}

    assert run("mail", "send-pending", "--all").exit_code == 0
    assert dispatched[-1] == [waiting, failed_out]


def test_a_claim_left_by_a_dead_worker_is_taken_up_again(app):
    message_id = queue_email("ana@example.com", "test", locale="en", context={}).id
    db.session.info.pop(PENDING_KEY)  # not dispatched: a worker claims it and dies
    db.session.commit()
    assert services.claim(message_id)
    db.session.commit()
    assert not services.claim(message_id)  # held by the (dead) worker
    assert services.pending_ids() == []
    _age(message_id, 16)
    assert services.pending_ids() == [message_id]
    assert services.claim(message_id)
    db.session.commit()
    assert _reload(message_id).attempts == 2


# ---------------------------------------------------------------- commands


def test_mail_test_command_queues_a_test_message(app, run):
    result = run("mail", "test", "--to", "Ops@Example.com")
    assert result.exit_code == 0, result.output
    message = db.session.scalar(select(EmailMessage))
    assert message.kind == "test" and message.recipient == "ops@example.com"
    assert f"test message {message.id} queued to ops@example.com: outbox" in result.output


def test_mail_test_command_refuses_a_bad_address(app, run):
    result = run("mail", "test", "--to", "nobody")
    assert result.exit_code == 2 and "Invalid email address" in result.output
    assert db.session.scalar(select(EmailMessage.id)) is None


def test_cron_sends_pending_mail_every_ten_minutes_off_the_hour():
    from rq import cron

    import jobs.cron  # noqa: F401  (registers on import)
    from jobs.mail import send_pending

    entry = next(e for e in cron._job_data_registry if e["name"] == "mail-send-pending")
    assert entry["func"] is send_pending and entry["cron"] == "2-59/10 * * * *"


def test_key_rotation_covers_the_bodies(app):
    from app.core.cli import encrypted_columns

    names = {(table.name, column.name) for table, column in encrypted_columns()}
    assert {("email_message", "text_body"), ("email_message", "html_body")} <= names
