"""Token test helpers shared by the token tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event

from app.core.db import DirectRead
from app.extensions import db
from app.tenants.models import Tenant
from app.tokens.models import ApiToken
from app.users.models import User


@dataclass
class Issued:
    """A committed token with its secret, owner and tenant."""

    secret: str
    token: ApiToken
    user: User
    tenant: Tenant


@contextmanager
def recorded_sql():
    """Every SQL statement this thread sends through db.engine inside the block (the test client runs the
    request in the test's thread; the usage writer's thread is left out)."""
    statements: list[str] = []
    thread = threading.get_ident()

    def _before(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == thread:
            statements.append(statement)

    def _direct(statement):
        _before(None, None, statement, None, None, False)

    event.listen(db.engine, "before_cursor_execute", _before)
    DirectRead.observers.append(_direct)  # the bearer check's read runs on the driver's cursor (app.core.db)
    try:
        yield statements
    finally:
        DirectRead.observers.remove(_direct)
        event.remove(db.engine, "before_cursor_execute", _before)


def problem_of(response, status: int, code: str) -> dict:
    """The problem+json body, after checking the status, media type and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["code"] == code and body["status"] == status, body
    return body


def reload_token(token: ApiToken) -> ApiToken:
    """The token as the database now has it."""
    db.session.expire_all()
    return db.session.get(ApiToken, token.id)
