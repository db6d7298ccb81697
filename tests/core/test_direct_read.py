"""`DirectRead`, the bearer check's one statement on the driver's cursor: the same row Core gives (types
converted: enums, JSON, UTC timestamps), None when nothing matches, statements needing a parameter conversion
refused, observers told, the connection given back as it was taken, and a driver error answered through Core.
The outage behaviour on a real PostgreSQL restart is in test_outage.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select

from app.core.db import DirectRead
from app.core.mixins import UTCDateTime
from app.extensions import db
from app.tokens.models import ApiToken
from app.tokens.services import create_token
from app.users.models import Role

TOKEN = ApiToken.__table__


def _statement():
    return select(TOKEN.c.id, TOKEN.c.name, TOKEN.c.scope, TOKEN.c.ip_allow, TOKEN.c.created_at, TOKEN.c.expires_at,
                  TOKEN.c.revoked_at, TOKEN.c.device_binding).where(TOKEN.c.id == bindparam("id"))


@pytest.fixture
def token(app, member_of):
    user, tenant = member_of(Role.ADMIN)
    issued = create_token(None, tenant, user, name="direct", scope="write", ip_allow="10.0.0.0/8\n192.0.2.7")
    db.session.commit()
    return issued.token


def _core(statement, params):
    with db.engine.connect() as connection:
        return connection.execute(statement, params).first()


def test_the_row_is_what_core_gives_with_every_type_converted(token):
    statement = _statement()
    got = DirectRead(statement).first(db.engine, {"id": token.id})
    expected = _core(statement, {"id": token.id})
    assert tuple(got) == tuple(expected)
    assert got._fields == ("id", "name", "scope", "ip_allow", "created_at", "expires_at", "revoked_at",
                           "device_binding")
    assert got.scope is token.scope  # the enum, not its text
    assert got.ip_allow == ["10.0.0.0/8", "192.0.2.7/32"]  # JSON, decoded
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset().total_seconds() == 0
    assert got.revoked_at is None and got.device_binding is False


def test_nothing_found_is_none(token):
    assert DirectRead(_statement()).first(db.engine, {"id": token.id + 1000}) is None


def test_a_parameter_that_needs_converting_is_refused(app):
    statement = select(TOKEN.c.id).where(TOKEN.c.created_at < bindparam("at", type_=UTCDateTime()))
    with pytest.raises(TypeError, match="needs a conversion"):
        DirectRead(statement).first(db.engine, {"at": datetime.now(UTC)})


def test_observers_see_each_statement(token):
    seen: list[str] = []
    DirectRead.observers.append(seen.append)
    try:
        DirectRead(_statement()).first(db.engine, {"id": token.id})
    finally:
        DirectRead.observers.remove(seen.append)
    assert len(seen) == 1 and "FROM api_token" in seen[0]


def test_the_connection_goes_back_to_the_pool_as_it_came(token):
    params = {"id": token.id}
    held = db.engine.pool.checkedout()
    DirectRead(_statement()).first(db.engine, params)
    assert db.engine.pool.checkedout() == held
    connection = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            from psycopg.pq import TransactionStatus

            driver = connection.driver_connection
            assert driver.autocommit is False and driver.info.transaction_status == TransactionStatus.IDLE
    finally:
        connection.close()


class _BrokenConnection:
    """A pooled connection whose driver fails at the first statement, as a dropped one does."""

    def __init__(self, real, error) -> None:
        self.real, self.error, self.invalidated = real, error, False

    @property
    def driver_connection(self):
        return self.real.driver_connection

    def cursor(self):
        raise self.error

    def invalidate(self, *_args):
        self.invalidated = True
        self.real.invalidate()

    def close(self):
        self.real.close()


def test_a_driver_error_is_answered_through_core(token, monkeypatch):
    engine = db.engine
    real = engine.raw_connection
    broken: list[_BrokenConnection] = []

    def raw_connection():  # the first connection handed out is broken; Core's, asked for next, is not
        if broken:
            return real()
        broken.append(_BrokenConnection(real(), engine.dialect.loaded_dbapi.OperationalError("connection lost")))
        return broken[-1]

    params = {"id": token.id}
    held = engine.pool.checkedout()
    monkeypatch.setattr(engine, "raw_connection", raw_connection)
    try:
        got = DirectRead(_statement()).first(engine, params)
    finally:
        monkeypatch.undo()
    assert tuple(got) == tuple(_core(_statement(), params))  # read again through Core, same row
    assert len(broken) == 1 and broken[0].invalidated  # the suspect connection is not pooled again
    assert engine.pool.checkedout() == held
