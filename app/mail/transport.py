"""SMTP: the MIME message built from an `EmailMessage`, one delivery through `smtplib`, and a secret-free
description of a failure.

Settings (README, "Configuration"): SMTP_HOST (empty: no SMTP), SMTP_PORT (0: 465 with SMTP_SSL, 587 with
SMTP_STARTTLS, else 25), SMTP_USERNAME / SMTP_PASSWORD (login when a user is set), SMTP_STARTTLS, SMTP_SSL,
SMTP_TIMEOUT_SECONDS, SMTP_TLS_VERIFY (off only for a test server), SMTP_CA_FILE (trust this CA bundle instead
of the system's), MAIL_FROM.
"""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid, parseaddr

from flask import current_app

from app.mail.models import EmailMessage


class DeliveryFailed(Exception):
    """An attempt to hand a message to the SMTP server failed; `str()` is the secret-free description that
    is also stored in `last_error` (SMTP code and class of error, never the body, the address or a password)."""


def smtp_configured() -> bool:
    """True when an SMTP server is configured (SMTP_HOST or SMTP_URL)."""
    return bool(current_app.config.get("SMTP_HOST"))


def build_mime(message: EmailMessage) -> MimeMessage:
    """The message as MIME: From MAIL_FROM, To the recipient, the text part and the HTML part as alternatives."""
    sender = current_app.config["MAIL_FROM"]
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.recipient
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.created_at)
    mime["Message-ID"] = make_msgid(idstring=f"hubx.{message.id}", domain=_domain_of(sender))
    mime["Content-Language"] = message.locale.replace("_", "-")
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders should not answer
    mime.set_content(message.text_body)
    mime.add_alternative(message.html_body, subtype="html")
    return mime


def _domain_of(sender: str) -> str:
    address = parseaddr(sender)[1]
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


def tls_context() -> ssl.SSLContext:
    """The TLS context for STARTTLS and SMTPS: the system's CAs, or SMTP_CA_FILE; no verification at all only
    with SMTP_TLS_VERIFY off (a test server)."""
    config = current_app.config
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
    if not config.get("SMTP_TLS_VERIFY", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send(mime: MimeMessage) -> None:
    """Hand `mime` to the configured SMTP server; any failure is `DeliveryFailed` with a description that holds
    no secret (the original exception, whose text may quote the address or the server's words, is dropped)."""
    config = current_app.config
    use_ssl, starttls = bool(config.get("SMTP_SSL")), bool(config.get("SMTP_STARTTLS"))
    host, port = config["SMTP_HOST"], config.get("SMTP_PORT") or (465 if use_ssl else 587 if starttls else 25)
    timeout = config.get("SMTP_TIMEOUT_SECONDS") or 30
    try:
        if use_ssl:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if starttls:
                client.starttls(context=tls_context())
                client.ehlo()
            if config.get("SMTP_USERNAME"):
                client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD", ""))
            client.send_message(mime)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(describe(exc)) from None


def describe(exc: BaseException) -> str:
    """A failure in a few secret-free words: the SMTP reply code when there is one, and the class of error.
    The server's reply text is left out (it often quotes the address)."""
    name = type(exc).__name__
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code = next(iter(exc.recipients.values()))[0]
    if isinstance(code, int) and code > 0:
        return f"SMTP {code} ({name})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({name})"
    if isinstance(exc, smtplib.SMTPException):
        return f"SMTP error ({name})"
    return f"connection failed ({name})"
