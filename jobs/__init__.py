"""Background jobs: RQ when REDIS_URL is set, an inline call otherwise.

Job functions take ids and plain values (never ORM objects, never secrets), open their own app
context when a worker runs them, re-load rows by id and re-check the tenant. They are idempotent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Flask, current_app, has_app_context

from app.core.redis_client import redis_connection
from app.extensions import db

log = logging.getLogger(__name__)

QUEUE = "default"
_worker_app: Flask | None = None


def enqueue(func: Callable, *args, **kwargs):
    """Queue `func(*args, **kwargs)` on RQ, or run it now when there is no Redis.

    Inline runs share the caller's transaction, so the caller's single commit covers them.
    Returns the RQ job, or the function's result when run inline.
    """
    if not current_app.config.get("REDIS_URL"):
        return func(*args, **kwargs)
    from rq import Queue

    return Queue(QUEUE, connection=redis_connection()).enqueue(func, *args, **kwargs)


def _app_for_worker() -> Flask:
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app


def job(func: Callable) -> Callable:
    """Make `func` runnable by a worker: an app context, one commit on success, rollback on failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)

        with _app_for_worker().app_context():
            try:
                result = func(*args, **kwargs)
                db.session.commit()
                return result
            except Exception:
                db.session.rollback()
                log.exception("job %s failed", func.__name__)
                raise

    return wrapper
