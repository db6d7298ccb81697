"""The audit trail: hash-chained per tenant, tamper-evident, safe under concurrent writers."""

import threading

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app import audit
from app.audit.models import AuditEvent
from app.audit.services import chain_name, verify_chain
from app.extensions import db


def test_events_chain_per_tenant(create_tenant):
    a, b = create_tenant(), create_tenant()
    for i in range(3):
        audit.record("test.a", tenant_id=a.id, details={"i": i})
    audit.record("test.b", tenant_id=b.id)
    audit.record("test.platform")
    db.session.commit()
    assert verify_chain(chain_name(a.id)).events == 3 and verify_chain(chain_name(a.id)).ok
    assert verify_chain(chain_name(b.id)).ok and verify_chain("platform").ok
    seqs = db.session.scalars(select(AuditEvent.seq).where(AuditEvent.tenant_id == a.id).order_by(AuditEvent.seq))
    assert list(seqs) == [1, 2, 3]


def test_ip_and_user_agent_are_encrypted_at_rest(create_tenant):
    tenant = create_tenant()
    audit.record("test.x", tenant_id=tenant.id, ip="203.0.113.9", user_agent="curl/8")
    db.session.commit()
    raw = db.session.execute(text("SELECT ip, user_agent FROM audit_event")).one()
    assert "203.0.113.9" not in raw.ip and "curl" not in raw.user_agent
    assert db.session.scalar(select(AuditEvent.ip)) == "203.0.113.9"


def test_a_changed_event_breaks_the_chain(create_tenant):
    tenant = create_tenant()
    for action in ("one", "two", "three"):
        audit.record(f"test.{action}", tenant_id=tenant.id)
    db.session.commit()
    db.session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(action="test.forged"))
    db.session.commit()
    report = verify_chain(chain_name(tenant.id))
    assert not report.ok and report.broken_at_seq == 2


def test_a_removed_event_breaks_the_chain(create_tenant):
    tenant = create_tenant()
    for action in ("one", "two", "three"):
        audit.record(f"test.{action}", tenant_id=tenant.id)
    db.session.commit()
    db.session.execute(text("DELETE FROM audit_event WHERE seq = 2"))
    db.session.commit()
    assert verify_chain(chain_name(tenant.id)).broken_at_seq == 3


def test_verify_command(app, create_tenant):
    tenant = create_tenant()
    audit.record("test.one", tenant_id=tenant.id)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and f"t{tenant.id}: 1 events, ok" in result.output
    db.session.execute(update(AuditEvent).values(outcome="failure"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--json"])
    assert result.exit_code == 1 and '"ok": false' in result.output


@pytest.mark.postgres
def test_concurrent_writers_keep_one_linear_chain(app, create_tenant):
    tenant = create_tenant()
    tenant_id = tenant.id
    writers, per_writer = 8, 5
    barrier = threading.Barrier(writers)
    errors = []

    def write():
        try:
            with app.app_context():
                barrier.wait()
                for _ in range(per_writer):
                    audit.record("test.race", tenant_id=tenant_id)
                    db.session.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain(chain_name(tenant_id))
    assert report.ok and report.events == writers * per_writer
    with Session(db.engine) as s:
        assert s.scalar(text("SELECT max(seq) FROM audit_event")) == writers * per_writer
