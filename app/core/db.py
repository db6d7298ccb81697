"""The request transaction: services flush, the request commits once at its end."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db


def register_request_transaction(app: Flask) -> None:
    """Commit after a response is ready; roll back after a server error.

    Error handlers roll back before they render, so a refusal (a DomainError) loses nothing that was
    stored before the request and keeps nothing the request half-did.
    """

    @app.after_request
    def _commit(response):
        if not db.session.registry.has():
            return response  # the request never used the database (no session was made)
        if response.status_code >= 500:
            db.session.rollback()
        else:
            db.session.commit()
        return response

    @app.teardown_request
    def _rollback_on_error(exc):
        if exc is not None:
            db.session.rollback()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite ignores foreign keys unless asked, and waits 0 s for a lock by default. Write-ahead logging lets
    # readers (every request) go on while a writer (the token usage writer, a form save) commits, instead of
    # waiting for its lock; it is a property of the file, so setting it again is a no-op.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
