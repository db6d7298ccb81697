"""Periodic session and log maintenance: `flask cleanup-sessions-logs`, and every 10 minutes under `rq cron`."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from app.core.mixins import utcnow
from app.sessions.services import Lifetimes, cleanup
from app.tokens.usage import purge_usage
from jobs import job


@job
def cleanup_sessions_logs() -> dict[str, int]:
    """End idle and expired sessions, delete ended session rows past SESSION_KEEP_ENDED_DAYS and token usage rows
    past TOKEN_USAGE_RETENTION_DAYS; returns counts (idempotent)."""
    config, now = current_app.config, utcnow()
    lifetimes = Lifetimes(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                          absolute=timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]))
    counts = cleanup(now=now, lifetimes=lifetimes, keep_ended=timedelta(days=config["SESSION_KEEP_ENDED_DAYS"]))
    counts["usage_deleted"] = purge_usage(now - timedelta(days=config["TOKEN_USAGE_RETENTION_DAYS"]))
    return counts
