"""The send job against a real SMTP server (aiosmtpd): plain, STARTTLS with a password, a server that refuses
(the job raises, the attempt is recorded, nothing is lost, a later run sends exactly once), nothing secret in the
logs, one delivery however often the job runs, and a real RQ worker when TEST_REDIS_URL is set."""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.config import ConfigError, parse_smtp_url
from app.core.mixins import utcnow
from app.extensions import db
from app.mail.models import EmailMessage, MailStatus
from app.mail.services import queue_email
from app.mail.transport import DeliveryFailed
from jobs.mail import MailNotConfigured, send_email, send_pending
from tests.mail.conftest import RESET_LINK, SMTP_PASSWORD, free_port

RESET = {"name": "Ana", "link": RESET_LINK, "minutes": 30}


def _queue_reset(address: str = "ana@example.com") -> int:
    """Queue a password reset and commit: delivery starts after the commit (inline here: no Redis)."""
    message_id = queue_email(address, "password_reset", locale="en", context=RESET).id
    db.session.commit()
    return message_id


def _reload(message_id: int) -> EmailMessage:
    db.session.expire_all()
    return db.session.get(EmailMessage, message_id)


def _age(message_id: int) -> None:
    db.session.execute(update(EmailMessage).where(EmailMessage.id == message_id)
                       .values(updated_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()


def test_sends_through_plain_smtp(app, smtp_server, use_smtp):
    use_smtp(smtp_server)
    message_id = _queue_reset()
    message = _reload(message_id)
    assert message.status == MailStatus.SENT and message.attempts == 1 and message.sent_at is not None
    assert message.last_error is None
    [(mail_from, rcpt_tos, mime)] = smtp_server.handler.received
    assert mail_from == "no-reply@example.com" and rcpt_tos == ["ana@example.com"]
    assert mime["Subject"] == "Reset your Hubx Access password" and mime["To"] == "ana@example.com"
    assert mime["From"] == "Hubx Access <no-reply@example.com>" and mime["Message-ID"].endswith("@example.com>")
    text = mime.get_body(("plain",)).get_content()
    html = mime.get_body(("html",)).get_content()
    assert RESET_LINK in text and f'<a href="{RESET_LINK}">' in html


def test_sends_through_starttls_with_a_password(app, starttls_server, use_smtp, caplog):
    caplog.set_level(logging.DEBUG)
    use_smtp(starttls_server)
    message_id = _queue_reset()
    assert _reload(message_id).status == MailStatus.SENT
    assert len(starttls_server.handler.received) == 1
    _assert_nothing_secret_logged(caplog)


def test_a_wrong_password_is_a_recorded_failure(app, starttls_server, use_smtp, monkeypatch):
    use_smtp(starttls_server)
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "wrong")
    message = _reload(_queue_reset())
    assert message.status == MailStatus.FAILED and message.last_error == "SMTP 535 (SMTPAuthenticationError)"
    assert starttls_server.handler.received == []


def test_an_unknown_certificate_is_refused_unless_verification_is_off(app, starttls_server, use_smtp, monkeypatch):
    use_smtp(starttls_server)
    monkeypatch.setitem(app.config, "SMTP_CA_FILE", "")  # the system's CAs do not know the test CA
    message_id = _queue_reset()
    message = _reload(message_id)
    assert message.status == MailStatus.FAILED and message.last_error == "TLS failed (SSLCertVerificationError)"
    monkeypatch.setitem(app.config, "SMTP_TLS_VERIFY", False)  # a test server only (README)
    assert send_email(message_id) == "sent"
    assert len(starttls_server.handler.received) == 1


def test_plain_smtp_is_refused_by_a_server_that_requires_starttls(app, starttls_server, use_smtp, monkeypatch):
    use_smtp(starttls_server)
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", False)
    message_id = _queue_reset()
    message = _reload(message_id)
    # the server offers AUTH only inside TLS: the password is never sent in the clear
    assert message.status == MailStatus.FAILED and message.last_error == "SMTP error (SMTPNotSupportedError)"
    monkeypatch.setitem(app.config, "SMTP_USERNAME", "")
    with pytest.raises(DeliveryFailed, match="^SMTP 530 "):  # 530: must issue a STARTTLS command first
        send_email(message_id)
    assert starttls_server.handler.received == []


@pytest.mark.parametrize("reply", ["550 5.1.1 <ana@example.com>: mailbox unavailable",
                                   "451 4.3.0 <ana@example.com> try again later"])
def test_a_refusal_is_recorded_and_a_later_run_sends_exactly_once(app, smtp_server, use_smtp, caplog, reply):
    caplog.set_level(logging.DEBUG)
    use_smtp(smtp_server)
    smtp_server.handler.refuse = reply
    code = reply[:3]

    message_id = _queue_reset()  # the inline attempt after the commit fails
    message = _reload(message_id)
    assert message.status == MailStatus.FAILED and message.attempts == 1
    assert message.last_error == f"SMTP {code} (SMTPDataError)"  # no address, no server text

    with pytest.raises(DeliveryFailed) as failed:  # the job raises, so RQ retries it
        send_email(message_id)
    assert str(failed.value) == f"SMTP {code} (SMTPDataError)" and failed.value.__cause__ is None
    assert _reload(message_id).attempts == 2 and smtp_server.handler.received == []

    smtp_server.handler.refuse = None  # the server accepts again
    _age(message_id)
    assert send_pending() == {"requeued": 1, "purged": 0}
    db.session.commit()
    message = _reload(message_id)
    assert message.status == MailStatus.SENT and message.attempts == 3 and message.last_error is None
    _age(message_id)
    assert send_pending() == {"requeued": 0, "purged": 0}
    assert send_email(message_id) == "skipped"
    assert len(smtp_server.handler.received) == 1
    _assert_nothing_secret_logged(caplog)


def test_an_unreachable_server_is_a_recorded_failure(app, use_smtp):
    use_smtp({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(), "SMTP_TIMEOUT_SECONDS": 5})
    message = _reload(_queue_reset())
    assert message.status == MailStatus.FAILED and message.last_error == "connection failed (ConnectionRefusedError)"


def test_the_same_message_is_delivered_once_however_often_the_job_runs(app, smtp_server, use_smtp):
    use_smtp(smtp_server)
    message_id = _queue_reset()
    assert send_email(message_id) == "skipped"
    assert send_email(message_id) == "skipped"
    assert len(smtp_server.handler.received) == 1 and _reload(message_id).attempts == 1


def test_racing_workers_deliver_once(app, smtp_server, use_smtp):
    use_smtp(smtp_server)
    message_id = queue_email("ana@example.com", "test", locale="en", context={}).id
    db.session.info.clear()  # not dispatched after the commit: the racing workers below are the only senders
    db.session.commit()
    results, start = [], threading.Barrier(4)

    def worker() -> None:
        with app.app_context():
            start.wait()
            results.append(send_email(message_id))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["sent", "skipped", "skipped", "skipped"]
    assert len(smtp_server.handler.received) == 1


def test_production_without_smtp_keeps_the_message_waiting(app, monkeypatch):
    monkeypatch.setitem(app.config, "HUBX_ENV", "production")
    message_id = _queue_reset()
    message = _reload(message_id)
    assert message.status == MailStatus.FAILED and message.last_error == "SMTP is not configured"
    with pytest.raises(MailNotConfigured):
        send_email(message_id)
    assert _reload(message_id).status == MailStatus.FAILED  # waits for SMTP and send-pending: not lost


def test_smtp_url_settings():
    assert parse_smtp_url("smtp://mailer:p%40ss%3Aword@mail.example.com?starttls=true") == {
        "SMTP_HOST": "mail.example.com", "SMTP_PORT": 587, "SMTP_SSL": False, "SMTP_STARTTLS": True,
        "SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "p@ss:word"}
    assert parse_smtp_url("smtps://mail.example.com")["SMTP_PORT"] == 465
    assert parse_smtp_url("smtps://mail.example.com")["SMTP_SSL"] is True
    plain = parse_smtp_url("smtp://127.0.0.1:2525?timeout=5")
    assert (plain["SMTP_PORT"], plain["SMTP_STARTTLS"], plain["SMTP_TIMEOUT_SECONDS"]) == (2525, False, 5)
    for bad in ("http://u:hunter2@mail.example.com", "smtp://u:hunter2@mail.example.com:99999", "smtp://"):
        with pytest.raises(ConfigError) as refused:
            parse_smtp_url(bad)
        assert "hunter2" not in str(refused.value)


def _assert_nothing_secret_logged(caplog) -> None:
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # aiosmtpd's own log is the server's
    assert any(r.name == "jobs.mail" for r in ours), "the job logs what it did"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in ours)
    assert "SECRET-reset-token" not in logged and SMTP_PASSWORD not in logged
    assert "ana@example.com" not in logged and "address at example.com" in logged


@pytest.mark.redis
def test_a_real_rq_worker_delivers_after_the_commit(app, smtp_server, use_smtp, monkeypatch):
    """With Redis, the commit enqueues an RQ job carrying only the id, with retries; a real worker sends it."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    redis_url = os.environ["TEST_REDIS_URL"]
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    use_smtp(smtp_server)
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    queue = Queue("default", connection=connection)

    message_id = queue_email("ana@example.com", "password_reset", locale="en", context=RESET).id
    db.session.flush()
    assert queue.count == 0  # nothing before the commit
    db.session.commit()
    [job] = queue.jobs
    assert job.args == (message_id,) and job.kwargs == {} and job.retries_left == 5
    assert _reload(message_id).status == MailStatus.QUEUED

    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == "finished" and job.return_value() == "sent"
    assert _reload(message_id).status == MailStatus.SENT and len(smtp_server.handler.received) == 1

    smtp_server.handler.refuse = "451 4.3.0 try again later"
    failing_id = _queue_reset("bo@example.com")
    [job] = queue.jobs
    SimpleWorker([queue], connection=connection).work(burst=True)
    job.refresh()
    assert job.retries_left == 4  # RQ will try again (in 10 s); send-pending after the last retry
    message = _reload(failing_id)
    assert message.status == MailStatus.FAILED and message.last_error == "SMTP 451 (SMTPDataError)"
    connection.flushdb()
