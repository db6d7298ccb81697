"""TokenUsageLog writes, off the request path: requests append to a per-process buffer, and a background
thread writes the buffer in one batch every TOKEN_USAGE_FLUSH_SECONDS, or as soon as BATCH_ROWS rows wait
(encryption of IP and user agent happens there too). A crash loses at most that window of usage rows; tokens,
limits and audit events are written in the request's own transaction and are never deferred."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.core.crypto import Sealed, crypto
from app.core.db import DATABASE_UNAVAILABLE, rollback_quietly
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens.models import ApiToken, TokenUsageLog

log = logging.getLogger(__name__)
EXTENSION_KEY = "hubx_token_usage"
MAX_BUFFER = 50_000  # beyond this (the database is down for long), new rows are dropped and counted
#: the writer also wakes as soon as this many rows wait, so a burst does not pile up for a whole interval
BATCH_ROWS = 2_000
#: a batch is inserted this many rows at a time, in one transaction, letting request threads run in between:
#: preparing a thousand rows in one go would hold the GIL for milliseconds and delay the requests behind it
CHUNK_ROWS = 50


class UsageBuffer:
    """Rows waiting to be written, and the thread that writes them."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.rows: list[dict] = []
        self.dropped = 0
        self.failures = 0  # writes that failed (the rows went back to the buffer); the writer retries them
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None

    def add(self, row: dict) -> None:
        with self.lock:
            if len(self.rows) >= MAX_BUFFER:
                self.dropped += 1
                return
            self.rows.append(row)
            full = len(self.rows) >= BATCH_ROWS
        if full:
            self.wake.set()
        if self.interval > 0 and not self.stopping and (self.thread is None or not self.thread.is_alive()):
            self._start()

    def _start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="token-usage-writer", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        _lower_priority()
        while not self.stopping:
            self.wake.wait(self.interval)
            self.wake.clear()
            try:
                self.flush()
            except DATABASE_UNAVAILABLE as error:  # an outage: one line per attempt, the rows wait for the next
                self.failures += 1
                log.warning("writing token usage failed, the database is unavailable (%s); %d rows kept, "
                            "will retry", type(error).__name__, len(self.rows))
            except Exception:  # noqa: BLE001 (keep the writer alive; the rows are put back)
                self.failures += 1
                log.exception("writing token usage failed; will retry")

    def stop(self, timeout: float = 15.0) -> None:
        """Let the writer thread finish the batch it holds and end (at exit: a daemon thread still writing when
        the interpreter finalises would lose the rows it took from the buffer)."""
        self.stopping = True
        self.wake.set()
        thread = self.thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def flush(self) -> int:
        """Write every buffered row now, in one transaction of its own; returns how many."""
        with self.lock:
            rows, self.rows = self.rows, []
        if not rows:
            return 0

        with self.app.app_context():
            try:
                return self._write(rows)
            except Exception:
                # The rows go back first: with the database away the rollback may fail too.
                with self.lock:
                    self.rows[:0] = rows[: max(0, MAX_BUFFER - len(self.rows))]
                rollback_quietly()
                raise
            finally:
                db.session.remove()

    def _write(self, rows: list[dict]) -> int:
        from sqlalchemy import select

        _seal(rows)
        try:
            _insert(rows)
            db.session.commit()
            return len(rows)
        except IntegrityError:
            db.session.rollback()
        # A token deleted since it was used (a cascade, the retention purge) fails the whole batch, and retrying
        # it would fail forever and hold back every later row. Its rows would have been deleted with it: drop them.
        ids = {row["token_id"] for row in rows}
        alive = set(db.session.scalars(select(ApiToken.id).where(ApiToken.id.in_(ids))
                                       .execution_options(include_deleted=True, all_tenants=True)))
        kept = [row for row in rows if row["token_id"] in alive]
        with self.lock:
            self.dropped += len(rows) - len(kept)
        if kept:
            _insert(kept)
            db.session.commit()
        return len(kept)


#: what a usage row holds, in the order of the INSERT below
COLUMNS = ("token_id", "tenant_id", "occurred_at", "endpoint", "outcome", "status", "correlation_id", "ip",
           "user_agent", "created_at", "updated_at")


#: how much lower than the request threads the writer thread runs (Linux `nice` steps)
WRITER_NICENESS = 10


def _lower_priority() -> None:
    """Let the CPU scheduler prefer the request threads over this one (Linux schedules threads one by one).

    The writer's rows may wait a little; a request should not: its work comes in bursts (a whole batch at once)
    that otherwise land on the requests running at that moment, which shows in the slowest twentieth of them.
    Elsewhere, or where it is not allowed, the writer keeps its priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)


def _insert(rows: list[dict]) -> None:
    """Hand the rows to the driver in the session's transaction: `COPY` on PostgreSQL, `executemany` elsewhere.

    The one bulk path of the app binds its values itself: SQLAlchemy's per-row parameter processing (three
    timestamps through their type each, every column looked up by name) cost most of the writer's time, which is
    time the request threads of this process wait for the GIL. A row's three timestamps are one value, converted
    once with the column type's own processor; IP and user agent arrive sealed (`_seal`)."""

    connection = db.session.connection()
    dialect = connection.dialect
    table = TokenUsageLog.__table__
    # The column type as this dialect stores it (SQLite: text in SQLAlchemy's format, as every other row has).
    stamp = table.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    if dialect.name == "postgresql":
        # Usage rows are already best effort within the flush window: their commit need not wait for the disk.
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        _copy(connection, table.name, rows, stamp)
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"  # noqa: S608 (constant names)
    for chunk in _chunks(rows):
        connection.exec_driver_sql(sql, [_values(row, stamp) for row in chunk])


def _chunks(rows: list[dict]):
    """`rows` CHUNK_ROWS at a time, yielding the GIL to the request threads between chunks."""
    for start in range(0, len(rows), CHUNK_ROWS):
        if start:
            time.sleep(0)
        yield rows[start:start + CHUNK_ROWS]


def _values(row: dict, stamp) -> tuple:
    at = stamp(row["occurred_at"])
    return (row["token_id"], row["tenant_id"], at, row["endpoint"], row["outcome"], row["status"],
            row["correlation_id"], _sealed(row["ip"]), _sealed(row["user_agent"]), at, at)


def _copy(connection, table: str, rows: list[dict], stamp) -> None:
    # PostgreSQL: COPY, the bulk path the server parses once for the whole batch (an INSERT per row costs the
    # server several times more, on the same cores as the requests).
    statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for chunk in _chunks(rows):
                for row in chunk:
                    copy.write_row(_values(row, stamp))
    except connection.dialect.loaded_dbapi.IntegrityError as error:  # a token deleted since: as INSERT says it
        raise IntegrityError(statement, None, error) from error


def _sealed(value: Sealed | None) -> str | None:
    if value is None:
        return None
    if type(value) is not Sealed:  # a plaintext here would reach the table as it is
        raise TypeError("usage rows are sealed (encrypted) before they are inserted")
    return str(value)


def _seal(rows: list[dict]) -> None:
    """Encrypt the IP and user agent of each row, once per token and value within the batch.

    A client sends the same address and agent on request after request; encrypting each copy again was half
    the writer's cost. Rows of one token in one batch (one flush interval) that share a value then share its
    ciphertext, which tells a reader without the key only what the token and the second already tell."""
    sealed: dict[tuple[int, str], Sealed] = {}
    for row in rows:
        for field in ("ip", "user_agent"):
            value = row[field]
            if value is None or type(value) is Sealed:
                continue
            key = (row["token_id"], value)
            if key not in sealed:
                sealed[key] = Sealed(crypto().encrypt(value))
            row[field] = sealed[key]


def init_usage(app: Flask) -> None:
    """One buffer per app; flushed at exit too."""
    buffer = UsageBuffer(app, float(app.config.get("TOKEN_USAGE_FLUSH_SECONDS", 1.0)))
    app.extensions[EXTENSION_KEY] = buffer
    atexit.register(_flush_quietly, buffer)


def _flush_quietly(buffer: UsageBuffer) -> None:
    try:
        buffer.stop()
        buffer.flush()
    except Exception:  # noqa: BLE001 (at exit there is nobody left to tell but the log)
        log.exception("token usage lost at exit")


def buffer() -> UsageBuffer:
    return current_app.extensions[EXTENSION_KEY]


def record(*, token_id: int, tenant_id: int, endpoint: str, outcome: str, status: int, correlation_id: str,
           ip: str, user_agent: str, at: datetime | None = None) -> None:
    """Queue one usage row (cheap: no I/O, no encryption here)."""
    now = at or utcnow()
    buffer().add({"token_id": token_id, "tenant_id": tenant_id, "occurred_at": now, "endpoint": endpoint,
                  "outcome": outcome, "status": status, "correlation_id": correlation_id, "ip": ip,
                  "user_agent": user_agent})


def flush() -> int:
    """Write the buffer now (commands, tests, shutdown)."""
    return buffer().flush()


def purge_usage(before: datetime) -> int:
    """Delete usage rows that occurred before `before` (retention, TOKEN_USAGE_RETENTION_DAYS); returns how many."""
    return db.session.execute(
        delete(TokenUsageLog).where(TokenUsageLog.occurred_at < before)
        .execution_options(synchronize_session=False, all_tenants=True, include_deleted=True)).rowcount
