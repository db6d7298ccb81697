"""The Redis connection of the configured REDIS_URL (rate limits use Flask-Limiter's own; this one serves the job
queue and the readiness probe)."""

from __future__ import annotations

from flask import current_app


def redis_connection():
    """A Redis client for the current app's REDIS_URL."""
    from redis import Redis  # only deployments with Redis load the client

    return Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
