"""Errors: problem+json under /api, HTML pages elsewhere, a request id on every response, no 500 for bad input."""

import pytest

from app.core.errors import Conflict, NotFound
from tests.conftest import Client, make_app


@pytest.fixture
def raising_app(database_url, instance_path):
    """A fresh app with routes that raise, added before its first request."""
    app = make_app(database_url, instance_path)

    @app.get("/api/v1/_test/conflict")
    def api_conflict():
        raise Conflict("That name is taken.", field="name")

    @app.get("/_test/missing")
    def html_missing():
        raise NotFound()

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("kaboom")

    return app


def test_domain_error_as_problem_json(raising_app):
    response = Client(raising_app.test_client()).get("/api/v1/_test/conflict", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "conflict" and body["detail"] == "That name is taken." and body["field"] == "name"
    assert body["request_id"] == "req-123" == response.headers["X-Request-ID"]


def test_domain_error_as_html_page(raising_app):
    response = Client(raising_app.test_client()).get("/_test/missing")
    assert response.status_code == 404
    assert "Not found." in response.get_data(as_text=True)


def test_unexpected_error_is_a_500_page_without_details(raising_app, caplog):
    response = Client(raising_app.test_client()).get("/_test/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "kaboom" not in body and "Something went wrong" in body
    assert any("unhandled error" in r.message for r in caplog.records)


def test_unknown_api_path_is_problem_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_wrong_method(client):
    response = client.open("delete", "/auth/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_request_id_is_made_when_missing_or_unsafe(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert unsafe != "bad id <script>" and len(unsafe) == 32


def test_json_body_to_a_form_gets_a_4xx(client):
    response = client.open("post", "/auth/login", json={"email": "x"})
    assert 400 <= response.status_code < 500


def test_malformed_form_fields_get_a_form_error(client):
    response = client.post("/auth/login", {"email": "not-an-email", "password": ""})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in body and "invalid-feedback" in body


def test_htmx_error_is_a_fragment(raising_app):
    response = Client(raising_app.test_client()).get("/_test/missing", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert "<html" not in response.get_data(as_text=True)


def test_a_value_the_database_refuses_is_422_not_500(database_url, instance_path, caplog):
    from sqlalchemy.exc import DataError

    app = make_app(database_url, instance_path)

    @app.get("/api/v1/_test/refused")
    def api_refused():
        raise DataError("INSERT ... (secret value)", {"name": "secret value"}, Exception("value out of range"))

    @app.get("/_test/refused")
    def page_refused():
        raise DataError("INSERT ... (secret value)", {"name": "secret value"}, Exception("value out of range"))

    client = Client(app.test_client())
    response = client.get("/api/v1/_test/refused")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "invalid_input"
    response = client.get("/_test/refused")
    assert response.status_code == 422 and "out of range or cannot be stored" in response.get_data(as_text=True)
    assert "secret value" not in caplog.text  # logged without the statement or its values
