"""Encrypted columns and key rotation with `flask crypto reencrypt`."""

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app import audit
from app.audit.models import AuditEvent
from app.core.crypto import Crypto, crypto
from app.extensions import db
from tests.conftest import make_app


def test_digest_is_keyed_and_stable(app):
    box = crypto()
    assert box.digest("hbx_secret") == box.digest("hbx_secret")
    assert Crypto([Fernet.generate_key().decode()], "another key").digest("hbx_secret") != box.digest("hbx_secret")


def test_rotation_re_encrypts_under_the_new_first_key(app, database_url, instance_path, create_tenant):
    tenant = create_tenant()
    audit.record("test.rotate", tenant_id=tenant.id, ip="192.0.2.1", user_agent="agent/1")
    db.session.commit()
    old_key = app.config["ENCRYPTION_KEYS"][0]
    new_key = Fernet.generate_key().decode()
    rotated = make_app(database_url, instance_path, ENCRYPTION_KEYS=[new_key, old_key])
    runner = rotated.test_cli_runner()
    with rotated.app_context():
        dry = runner.invoke(args=["crypto", "reencrypt", "--dry-run"])
        assert "audit_event.ip: 1 to re-encrypt" in dry.output
        done = runner.invoke(args=["crypto", "reencrypt"])
        assert "audit_event.ip: 1 re-encrypted" in done.output and "audit_event.user_agent: 1" in done.output
        again = runner.invoke(args=["crypto", "reencrypt"])
        assert "audit_event.ip: 0 re-encrypted" in again.output
        db.session.remove()
    # Only the new key is needed now, and the chain still verifies (it hashes plaintext).
    only_new = make_app(database_url, instance_path, ENCRYPTION_KEYS=[new_key])
    with only_new.app_context():
        assert db.session.scalar(select(AuditEvent.ip)) == "192.0.2.1"
        raw = db.session.execute(text("SELECT ip FROM audit_event")).scalar()
        assert Fernet(new_key).decrypt(raw.encode()) == b"192.0.2.1"
        assert only_new.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
        db.session.remove()


def test_a_sealed_value_is_stored_as_it_is(app, create_tenant):
    from app.core.crypto import Sealed

    tenant = create_tenant()
    sealed = Sealed(crypto().encrypt("192.0.2.7"))
    audit.record("test.sealed", tenant_id=tenant.id, ip=sealed, user_agent="agent/1")
    db.session.commit()
    ip, agent = db.session.execute(text("SELECT ip, user_agent FROM audit_event WHERE action = 'test.sealed'")).one()
    assert ip == sealed  # not encrypted a second time
    assert crypto().decrypt(ip) == "192.0.2.7" and agent != "agent/1" and crypto().decrypt(agent) == "agent/1"
