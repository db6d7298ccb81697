"""Jobs: inline without Redis, a real RQ worker with it, the cron schedule, and the retention job."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.mixins import utcnow
from app.extensions import db
from app.tenants.models import Tenant
from jobs import enqueue
from jobs.maintenance import purge_soft_deleted

ROOT = Path(__file__).resolve().parents[2]


def test_enqueue_runs_inline_without_redis(app):
    assert enqueue(sum, [1, 2, 3]) == 6


def test_purge_removes_only_old_soft_deleted_rows(app, create_tenant, member_of):
    old, recent, live = create_tenant(slug="old"), create_tenant(slug="recent"), create_tenant(slug="live")
    member_of(tenant=old)
    old.deleted_at = utcnow() - timedelta(days=100)
    recent.deleted_at = utcnow() - timedelta(days=5)
    db.session.commit()
    counts = purge_soft_deleted(90)
    db.session.commit()
    assert counts["tenant"] == 1
    slugs = set(db.session.scalars(select(Tenant.slug).execution_options(include_deleted=True)))
    assert slugs == {"recent", "live"}
    assert live.deleted_at is None


def test_purge_command(app, create_tenant):
    tenant = create_tenant()
    tenant.deleted_at = utcnow() - timedelta(days=2)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-deleted", "--days", "1"])
    assert result.exit_code == 0 and "tenant: 1 purged" in result.output


def test_cron_schedule_loads():
    from rq import cron

    import jobs.cron  # noqa: F401  (registers on import)

    names = [entry["name"] for entry in cron._job_data_registry]
    assert "purge-soft-deleted" in names
    entry = next(e for e in cron._job_data_registry if e["name"] == "purge-soft-deleted")
    assert entry["func"] is purge_soft_deleted and entry["cron"] == "17 3 * * *"
    assert "prune-expired-permissions" in names


@pytest.mark.redis
def test_real_worker_runs_a_queued_job(app, database_url, instance_path, create_tenant):
    """Enqueue through RQ on the real Redis and let a real `rq worker --burst` run it."""
    from redis import Redis
    from rq import Queue

    redis_url = os.environ["TEST_REDIS_URL"]
    Redis.from_url(redis_url).flushdb()
    tenant = create_tenant(slug="to-purge")
    tenant.deleted_at = utcnow() - timedelta(days=400)
    db.session.commit()
    app.config["REDIS_URL"] = redis_url
    try:
        job = enqueue(purge_soft_deleted, 30)
    finally:
        app.config["REDIS_URL"] = ""
    assert job.args == (30,)  # ids and plain values only
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "HUBX_INSTANCE_PATH": str(instance_path), "SECRET_KEY": app.config["SECRET_KEY"],
           "ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]), "TOKEN_HASH_KEY": app.config["TOKEN_HASH_KEY"]}
    subprocess.run([str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url", redis_url, "default"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    job = Queue("default", connection=Redis.from_url(redis_url)).fetch_job(job.id)
    assert job.is_finished and job.return_value()["tenant"] == 1
    db.session.expire_all()
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "to-purge")
                             .execution_options(include_deleted=True)) is None
