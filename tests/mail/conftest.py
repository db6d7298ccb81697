"""Mail fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1, plain or STARTTLS with a certificate made for the
test, with or without a password, that accepts or refuses; and the app pointed at it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "hubx-mailer"
SMTP_PASSWORD = "smtp-pass-Zq8-never-logged"  # noqa: S105 (test credential)
RESET_LINK = "https://hubx.example.com/auth/reset/SECRET-reset-token-5f2a9c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorder:
    """An aiosmtpd handler keeping what it accepted; `refuse` (e.g. "550 5.1.1 no such mailbox") makes it
    answer DATA with that reply instead."""

    refuse: str | None = None
    received: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.refuse:
            return self.refuse
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 2.0.0 accepted"


@dataclass
class SmtpServer:
    handler: Recorder
    port: int
    settings: dict  # what the app needs to reach it


def _start(handler: Recorder, **smtp_kwargs) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    return controller, port


@pytest.fixture
def smtp_server():
    """A plain SMTP server on a free port."""
    handler = Recorder()
    controller, port = _start(handler)
    yield SmtpServer(handler, port, {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})
    controller.stop()


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    """A CA made for the suite, and a server certificate it signed for 127.0.0.1 and localhost."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hubx test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    found = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    found.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return found


def _check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
def starttls_server(certificates):
    """An SMTP server that requires STARTTLS before anything else, and a password after it."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    handler = Recorder()
    controller, port = _start(handler, tls_context=context, require_starttls=True, auth_required=True,
                              authenticator=_check_password)
    yield SmtpServer(handler, port, {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": True, "SMTP_CA_FILE": str(certificates.ca_file),
        "SMTP_USERNAME": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD})
    controller.stop()


@pytest.fixture
def use_smtp(app, monkeypatch):
    """use_smtp(server_or_settings): point the app at an SMTP server for this test."""

    def _use(server) -> None:
        settings = server.settings if isinstance(server, SmtpServer) else server
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)

    return _use
