"""The expire-invites job: marks pending invites past their time, every tenant, idempotent; scheduled every 15
minutes; run through a real RQ worker when Redis is there."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus
from app.users.models import Role
from jobs import enqueue
from jobs.invites import expire_invites

ROOT = Path(__file__).resolve().parents[2]


def _statuses() -> dict[int, InviteStatus]:
    db.session.expire_all()
    return {i.id: i.status for i in db.session.scalars(select(Invite).execution_options(all_tenants=True))}


@pytest.fixture
def invites(member_of):
    """In two tenants: one past its time in each, one live, one revoked past its time (left as it is)."""
    made = {}
    for name in ("a", "b"):
        admin, tenant = member_of(Role.ADMIN)
        made[f"old {name}"], _ = services.issue(Actor(admin), tenant, role=Role.MEMBER,
                                                now=utcnow() - timedelta(hours=73))
        made[f"live {name}"], _ = services.issue(Actor(admin), tenant, role=Role.MEMBER, now=utcnow())
    revoked, _ = services.issue(Actor(admin), tenant, role=Role.MEMBER, now=utcnow() - timedelta(hours=73))
    services.revoke(Actor(admin), tenant, revoked.id, now=utcnow())
    made["revoked"] = revoked
    db.session.commit()
    return {name: invite.id for name, invite in made.items()}


def test_the_job_expires_due_invites_in_every_tenant(app, invites):
    assert enqueue(expire_invites) == 2  # inline without Redis
    db.session.commit()
    expected = {"old a": "expired", "old b": "expired", "live a": "pending", "live b": "pending",
                "revoked": "revoked"}
    statuses = _statuses()
    assert {name: statuses[i].value for name, i in invites.items()} == expected
    audited = db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "invite.expired")
                                 .execution_options(all_tenants=True)).all()
    assert sorted(audited) == sorted([str(invites["old a"]), str(invites["old b"])])
    assert expire_invites() == 0  # idempotent


def test_the_job_is_scheduled_every_15_minutes():
    from rq import cron

    import jobs.cron  # noqa: F401  (registers on import)

    entry = next(e for e in cron._job_data_registry if e["name"] == "expire-invites")
    assert entry["func"] is expire_invites and entry["cron"] == "9-59/15 * * * *"


@pytest.mark.redis
def test_a_real_worker_runs_it(app, database_url, instance_path, invites):
    from redis import Redis
    from rq import Queue

    redis_url = os.environ["TEST_REDIS_URL"]
    Redis.from_url(redis_url).flushdb()
    app.config["REDIS_URL"] = redis_url
    try:
        job = enqueue(expire_invites)
    finally:
        app.config["REDIS_URL"] = ""
    assert job.args == ()  # nothing but plain values, and here none
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "HUBX_INSTANCE_PATH": str(instance_path), "SECRET_KEY": app.config["SECRET_KEY"],
           "ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]), "TOKEN_HASH_KEY": app.config["TOKEN_HASH_KEY"]}
    subprocess.run([str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url", redis_url, "default"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    job = Queue("default", connection=Redis.from_url(redis_url)).fetch_job(job.id)
    assert job.is_finished and job.return_value() == 2
    statuses = _statuses()
    assert statuses[invites["old a"]] == InviteStatus.EXPIRED and statuses[invites["live b"]] == InviteStatus.PENDING
