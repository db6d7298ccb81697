"""The request transaction: services flush, the request commits once at its end."""

from __future__ import annotations

import logging
import time
import weakref
from collections import namedtuple
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


class DirectRead:
    """One hot, read-only `SELECT` run on the driver's own cursor of a pooled connection, its row converted by
    its columns' SQLAlchemy types exactly as Core would, without Core's per-call machinery (its `Connection`,
    execution context and `Result` cost about 40 µs a call on this machine, more than the query itself on
    SQLite; bench/service_time.py). Used where one statement runs on every request (the bearer check); anything
    else goes through Core or the ORM.

    The statement is compiled once per engine. Its bound parameters must need no conversion (plain text and
    numbers). On PostgreSQL the connection is in autocommit while in use, as the one statement needs no
    transaction: no `BEGIN` and `ROLLBACK` round trips (a client-side flag of psycopg). The pool's events run as
    for any checkout (the idle ping of `register_idle_ping`). Any error of the driver falls back to running the
    statement through Core once, so a dropped connection is handled the one way SQLAlchemy handles it (the
    connection and the pool's older ones invalidated, `DBAPIError` raised with `connection_invalidated`, the
    outage answered 503 by `app.core.errors`).

    SQLAlchemy's engine events (`before_cursor_execute`, echo) do not see these statements; whoever counts SQL
    (tests, bench/service_time.py) also subscribes to `DirectRead.observers`, called with each statement's text."""

    #: callables given the SQL text of every direct read, in the reading thread (empty in production)
    observers: list[Callable[[str], None]] = []  # noqa: RUF012 (one list for the process, on purpose)

    def __init__(self, statement) -> None:
        self.statement = statement
        self.columns = tuple(column.key for column in statement.selected_columns)
        self.row = namedtuple("Row", self.columns)  # noqa: PYI024 (built from the statement's columns)
        self._plans: weakref.WeakKeyDictionary[Engine, tuple] = weakref.WeakKeyDictionary()

    def _plan(self, engine: Engine) -> tuple:
        plan = self._plans.get(engine)
        if plan is None:
            dialect = engine.dialect
            compiled = self.statement.compile(dialect=dialect)
            for bind in compiled.binds.values():
                if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                    raise TypeError(f"DirectRead: parameter {bind.key!r} needs a conversion; use Core")
            order = tuple(compiled.positiontup) if compiled.positional else None
            processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                               for column in self.statement.selected_columns)
            converts = tuple((index, fn) for index, fn in enumerate(processors) if fn is not None)
            plan = self._plans[engine] = (compiled.string, order, converts, dialect.name == "postgresql")
        return plan

    def first(self, engine: Engine, params: dict):
        """The first row (a named tuple of the statement's columns), or None."""
        sql, order, converts, autocommit = self._plan(engine)
        args = tuple(params[name] for name in order) if order is not None else params
        for observe in DirectRead.observers:
            observe(sql)
        try:
            connection = engine.raw_connection()
        except engine.dialect.loaded_dbapi.Error:  # no connection to be had: Core says so its own way
            return self._through_core(engine, params)
        try:
            driver = connection.driver_connection
            if autocommit:
                driver.autocommit = True
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql, args)
                    found = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                if autocommit:
                    driver.autocommit = False
        except engine.dialect.loaded_dbapi.Error:
            connection.invalidate()
            return self._through_core(engine, params)
        finally:
            connection.close()
        if found is None:
            return None
        if not converts:
            return self.row._make(found)
        values = list(found)
        for index, convert in converts:
            values[index] = convert(values[index])
        return self.row._make(values)

    def _through_core(self, engine: Engine, params: dict):
        options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
        with engine.connect().execution_options(**options) as connection:
            found = connection.execute(self.statement, params).first()
        return None if found is None else self.row._make(found)
