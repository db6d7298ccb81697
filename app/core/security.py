"""Security headers on every response, a per-request CSP nonce, and the request id."""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, current_app, has_request_context, request

from app.core.request_state import state

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def csp_nonce() -> str:
    """This request's CSP nonce (made on first use)."""
    nonce = state.csp_nonce
    if nonce is None:
        nonce = state.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def request_id() -> str:
    """This request's id: the client's X-Request-ID when it is sane, else a new one."""
    found = state.request_id
    if found is None:
        sent = request.environ.get("HTTP_X_REQUEST_ID", "")
        found = state.request_id = sent if sent and _REQUEST_ID_OK.match(sent) else secrets.token_hex(16)
    return found


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() if has_request_context() else "-"
        return True


# What every response carries, page or API.
_SAME_ORIGIN = ("Referrer-Policy", "same-origin")
_COMMON = (
    ("X-Content-Type-Options", "nosniff"),
    _SAME_ORIGIN,
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
# A JSON answer loads nothing and may be framed by nothing: a fixed policy, no nonce to make.
_API_FIXED = (("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"), *_COMMON)


def _page_csp() -> str:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{csp_nonce()}'; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "base-uri 'none'; "
        "object-src 'none'; "
        "frame-ancestors 'none'"
    )


def _set_headers(response):
    headers = response.headers
    hsts = current_app.config["HSTS_HEADER"]
    if request.is_api:  # JSON only (the one page under /api/, the reference, is not an API request)
        # Nothing on the API path sets these before this hook: appended in one go, not replaced one by one.
        headers.extend((*_API_FIXED, ("Strict-Transport-Security", hsts), ("X-Request-ID", request_id())))
        if state.no_store:
            headers["Cache-Control"] = "no-store"
        if request.method == "OPTIONS":
            # Flask's automatic answer is an empty text/html body: say "no content", and that it is not cached
            response.status_code = 204
            response.headers.pop("Content-Type", None)
            headers["Cache-Control"] = "no-store"
        return response
    ours = [("Content-Security-Policy", _page_csp()), ("Strict-Transport-Security", hsts), *_COMMON,
            ("X-Request-ID", request_id())]
    if state.no_referrer:  # this URL holds a secret (a link from an email): the next request gets no Referer
        ours[ours.index(_SAME_ORIGIN)] = ("Referrer-Policy", "no-referrer")
    if state.no_store or response.mimetype == "text/html":
        # Pages can show secrets or personal data; never cache them in shared or browser caches.
        ours.append(("Cache-Control", "no-store"))
    # These replace whatever the view set under the same names (rare): dropped in one pass, then appended in one
    # go (setting them one by one scans the header list once for each).
    replaced = {name.lower() for name, _value in ours}
    if any(name.lower() in replaced for name, _value in headers.items()):
        kept = [(name, value) for name, value in headers.items() if name.lower() not in replaced]
        headers.clear()
        headers.extend(kept)
    headers.extend((*ours, ("Vary", "HX-Request")))
    return response


def register_security(app: Flask) -> None:
    """Headers on every response; request id on every log line."""
    app.config.setdefault("HSTS_SECONDS", 31536000)
    app.config["HSTS_HEADER"] = f"max-age={app.config['HSTS_SECONDS']}; includeSubDomains"
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
