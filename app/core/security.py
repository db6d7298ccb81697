"""Security headers on every response, a per-request CSP nonce, and the request id."""

from __future__ import annotations

import logging
import re
import secrets
import uuid

from flask import Flask, current_app, g, has_request_context, request

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def csp_nonce() -> str:
    """This request's CSP nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def request_id() -> str:
    """This request's id: the client's X-Request-ID when it is sane, else a new one."""
    if "request_id" not in g:
        sent = request.headers.get("X-Request-ID", "")
        g.request_id = sent if _REQUEST_ID_OK.match(sent) else uuid.uuid4().hex
    return g.request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() if has_request_context() else "-"
        return True


def _set_headers(response):
    cfg = current_app.config
    nonce = csp_nonce()
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "base-uri 'none'; "
        "object-src 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["Strict-Transport-Security"] = f"max-age={cfg['HSTS_SECONDS']}; includeSubDomains"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["X-Request-ID"] = request_id()
    if g.get("no_store") or response.mimetype == "text/html":
        # Pages can show secrets or personal data; never cache them in shared or browser caches.
        response.headers["Cache-Control"] = "no-store"
    response.headers.add("Vary", "HX-Request")
    return response


def register_security(app: Flask) -> None:
    """Headers on every response; request id on every log line."""
    app.config.setdefault("HSTS_SECONDS", 31536000)
    app.after_request(_set_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    root = logging.getLogger()
    if not any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        root.addHandler(handler)
    # Flask's own handler would print records a second time, without the request id.
    app.logger.handlers.clear()
    app.logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
