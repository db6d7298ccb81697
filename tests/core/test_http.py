"""Two kinds of request: pages (cookie session, sign-in, CSRF, per-address limits, CSP nonce) and the bearer-token
JSON API under /api/ (none of those). What each kind gets, and `pages_only` itself."""

from __future__ import annotations

import pytest
from flask import Flask, g

from app.core.http import HubxRequest, pages_only, register_request_kinds


def test_a_signed_in_browser_cookie_does_not_authenticate_an_api_call(client, auth, member_of):
    user, _tenant = member_of()
    auth.login(user)
    assert client.get("/").status_code in (200, 302)  # the browser's session works for pages
    response = client.get("/api/v1/me")
    assert response.status_code == 401  # the same cookie jar, but the API reads only the bearer token
    assert "Set-Cookie" not in response.headers  # nor does it write one


def test_api_answers_carry_the_api_headers_and_no_page_machinery(client):
    response = client.get("/api/v1/me")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]
    assert "Strict-Transport-Security" in response.headers
    assert not any(name.startswith("X-RateLimit") for name, _value in response.headers)  # no per-address limiter
    assert "HX-Request" not in response.headers.get("Vary", "")


def test_the_api_reference_is_a_page(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "'nonce-" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_only_runs_hooks_for_pages_in_order_and_never_for_the_api():
    app = Flask(__name__)
    register_request_kinds(app)
    calls = []

    @app.before_request
    def always():
        calls.append("always")

    with pages_only(app):
        app.before_request(lambda: calls.append("first"))
        app.before_request(lambda: calls.append("second"))

        @app.after_request
        def after(response):
            calls.append("after")
            return response

        app.teardown_request(lambda exc: calls.append("teardown"))

    @app.before_request
    def stop():
        return "stopped" if g.get("stop") else None

    app.add_url_rule("/page", "page", lambda: "page")
    app.add_url_rule("/api/v1/thing", "thing", lambda: "api")
    assert app.request_class is HubxRequest
    assert len(app.before_request_funcs[None]) == 3  # always, the page hooks as one, stop

    client = app.test_client()
    assert client.get("/page").get_data(as_text=True) == "page"
    assert calls == ["always", "first", "second", "after", "teardown"]
    calls.clear()
    assert client.get("/api/v1/thing").get_data(as_text=True) == "api"
    assert calls == ["always"]


def test_a_page_hook_that_answers_ends_the_request():
    app = Flask(__name__)
    register_request_kinds(app)
    with pages_only(app):
        app.before_request(lambda: ("refused", 429))
    app.add_url_rule("/page", "page", lambda: "page")
    app.add_url_rule("/api/v1/thing", "thing", lambda: "api")
    client = app.test_client()
    response = client.get("/page")
    assert response.status_code == 429 and response.get_data(as_text=True) == "refused"
    assert client.get("/api/v1/thing").status_code == 200



def test_the_session_signer_follows_a_change_of_the_secret_key(app, client, auth, member_of):
    """The signing serializer is made once for the keys in use, and again when they change: a cookie signed with
    a retired key still opens while that key is a fallback, and not once it is gone."""
    user, _tenant = member_of()
    auth.login(user)
    signed_in = client.get("/").headers["Location"]
    assert not signed_in.startswith("/auth/login")
    old_key = app.secret_key
    try:
        app.secret_key = "another-secret-key-for-this-test-000000000000"
        app.config["SECRET_KEY_FALLBACKS"] = [old_key]
        assert client.get("/").headers["Location"] == signed_in  # the old key still opens the cookie
        app.config["SECRET_KEY_FALLBACKS"] = []
        assert client.get("/").headers["Location"].startswith("/auth/login")  # and not once it is gone
    finally:
        app.secret_key = old_key
        app.config["SECRET_KEY_FALLBACKS"] = []


@pytest.mark.config(HSTS_SECONDS=600)
def test_page_headers_replace_what_a_view_set_and_keep_the_rest(app):
    @app.get("/probe-headers")
    def probe():
        return "probe", 200, [("Referrer-Policy", "unsafe-url"), ("X-Frame-Options", "SAMEORIGIN"),
                              ("Vary", "Cookie"), ("X-Probe", "kept")]

    response = app.test_client().get("/probe-headers")
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=600;")
    assert response.headers["X-Probe"] == "kept" and response.headers["Cache-Control"] == "no-store"
    assert response.headers.getlist("Vary") == ["Cookie", "HX-Request"]


def test_a_static_file_keeps_its_cache_control(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
