"""The request transaction: services flush, the request commits once at its end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, has_app_context, request, session
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from app.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

#: errors that mean "the database cannot be reached or cannot take this now" (connection refused or dropped, a
#: closed connection, the pool exhausted, SQLite's lock wait run out): answered 503 with Retry-After, not 500
DATABASE_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)
#: SQLite's lock wait when no app says otherwise (SQLITE_BUSY_TIMEOUT_MS)
DEFAULT_BUSY_TIMEOUT_MS = 5000


def rollback_quietly() -> None:
    """Roll the session back; with the database away the rollback itself may fail, and there is nothing to keep
    then (the server drops the transaction of a lost connection, and SQLAlchemy has invalidated it)."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 (the answer is already an error; this must not turn it into another)
        log.debug("rollback failed while the database is unavailable", exc_info=True)


def register_request_transaction(app: Flask, *, unavailable: Callable[[Exception], object]) -> None:
    """Commit after a response is ready; roll back after a server error. A commit the database cannot take
    (it is away, or locked past the wait) is answered by `unavailable(error)` instead of the view's response.

    Error handlers roll back before they render, so a refusal (a DomainError) loses nothing that was
    stored before the request and keeps nothing the request half-did.
    """

    @app.after_request
    def _commit(response):
        if not db.session.registry.has():
            return response  # the request never used the database (no session was made)
        if response.status_code >= 500:
            rollback_quietly()
            return response
        try:
            db.session.commit()
        except DATABASE_UNAVAILABLE as error:
            rollback_quietly()
            return _unavailable_instead(app, _commit, error, unavailable)
        return response

    @app.teardown_request
    def _rollback_on_error(error):
        if error is not None:
            rollback_quietly()


def _unavailable_instead(app: Flask, hook, error: Exception, unavailable: Callable[[Exception], object]):
    """The 503 answer for a request whose commit failed, replacing the response the view made (its redirect, its
    "saved" message: none of it happened).

    Flask runs after-request hooks last-registered first, so the hooks registered after this one (security
    headers, rate-limit headers, the sign-in cookie) have already decorated the response being replaced: run them
    again on the replacement, as Flask would have."""
    if not request.is_api:
        session.pop("_flashes", None)  # they announce what this request did, which is now undone
    response = current_app.make_response(unavailable(error))
    for name in request.blueprints:  # blueprint hooks run before the app's
        for later in reversed(app.after_request_funcs.get(name, [])):
            response = later(response)
    hooks = app.after_request_funcs.get(None, [])
    for later in reversed(hooks[hooks.index(hook) + 1:]):
        response = later(response)
    return response


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite ignores foreign keys unless asked, and waits 0 s for a lock by default: it waits
    # SQLITE_BUSY_TIMEOUT_MS, then the write fails and the request answers 503. Write-ahead logging lets
    # readers (every request) go on while a writer (the token usage writer, a form save) commits, instead of
    # waiting for its lock; it is a property of the file, so setting it again is a no-op.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_busy_timeout_ms()}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _busy_timeout_ms() -> int:
    # An engine connects inside its app's context (requests, commands, the usage writer): read that app's setting.
    if has_app_context():
        return int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", DEFAULT_BUSY_TIMEOUT_MS))
    return DEFAULT_BUSY_TIMEOUT_MS


#: a pooled connection that sat unused longer than this is checked (one `SELECT 1`) before a request gets it
DEFAULT_PING_AFTER_IDLE_SECONDS = 10.0


def register_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has been idle for more than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pays a `SELECT 1` round trip at every checkout, which on a busy API doubles the
    round trips of a one-query request. A connection in steady use has just proved it works; the ones that die
    unnoticed are those that sat idle (a database restarted overnight, a firewall dropping quiet connections).
    A connection found dead here is replaced before the request sees it (the pool retries the checkout). One
    that dies while in use (a restart under load) raises at its first statement: SQLAlchemy invalidates it and
    every pooled connection older than it, the request answers 503 (`app.core.errors.database_unavailable`),
    and the next ones connect afresh. Negative `idle_seconds` turns the check off; 0 checks every checkout."""
    if idle_seconds < 0:
        return

    @event.listens_for(engine, "checkin")
    def _note_idle_since(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError("pooled connection was closed while idle") from error
            raise


def once_more_if_dropped(read: Callable[[], T]) -> T:
    """Run `read` (one read-only statement outside the request's transaction, safe to repeat); when its
    connection turns out to have been dropped (SQLAlchemy invalidated it, and the pool's older ones with it),
    run it once more, on a fresh connection. A database that is really away fails the second time too."""
    try:
        return read()
    except exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.info("a pooled connection was found dropped; reading again on a fresh one")
        return read()
