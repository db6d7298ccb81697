"""Liveness and readiness probes."""

import os

import pytest


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    body = client.get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_fails_when_redis_is_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "error: ConnectionError"


@pytest.mark.redis
def test_readyz_with_real_redis(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", os.environ["TEST_REDIS_URL"])
    assert client.get("/readyz").get_json()["checks"] == {"database": "ok", "redis": "ok"}
