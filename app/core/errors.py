"""Errors: the DomainError hierarchy, and one renderer for HTML pages and RFC 9457 problem+json."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import get_locale, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from app.core.db import DATABASE_UNAVAILABLE, rollback_quietly
from app.core.htmx import is_htmx
from app.core.request_state import state
from app.core.security import request_id
from app.extensions import db

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """A refusal by a service: stable code, HTTP status, translatable title, optional detail."""

    code = "domain_error"
    status = 400
    title = _l("The request could not be completed.")

    def __init__(self, detail: str | None = None, *, field: str | None = None, **extra) -> None:
        super().__init__(detail or str(self.title))
        self.detail = detail
        self.field = field
        self.extra = extra


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
    title = _l("Some fields need attention.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = _l("Not found.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = _l("You do not have permission to do this.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = _l("This conflicts with the current state.")


class AuthenticationFailed(DomainError):
    code = "authentication_failed"
    status = 401
    title = _l("Sign-in failed. Check your email and password.")


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = _l("Too many requests. Wait a moment and try again.")


# Titles for plain HTTP errors, keyed by status; codes are the snake_case of the reason.
_HTTP_TITLES = {
    400: _l("The request was not understood."),
    401: _l("You need to sign in."),
    403: _l("You do not have permission to do this."),
    404: _l("The page you asked for does not exist."),
    405: _l("This method is not allowed here."),
    413: _l("The request is too large."),
    415: _l("This media type is not supported."),
    422: _l("Some fields need attention."),
    429: _l("Too many requests. Wait a moment and try again."),
    500: _l("Something went wrong on our side. It has been logged."),
    503: _l("The service is briefly unavailable. Try again in a few seconds."),
}
_ERROR_PAGES = {400, 403, 404, 429, 500, 503}


def wants_problem_json() -> bool:
    """API paths, and clients that ask for JSON first, get problem+json."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in {"application/json", PROBLEM_JSON}


def problem(status: int, code: str, title: str, detail: str | None = None, **extra) -> Response:
    """An RFC 9457 problem document."""
    body = {
        "type": f"https://hubx.dev/problems/{code}",
        "title": str(title),
        "status": status,
        "code": code,
        "instance": request.path,
        "request_id": request_id(),
    }
    if detail:
        body["detail"] = str(detail)
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def render_error(status: int, code: str, title: str, detail: str | None = None, **extra):
    """Render one error as problem+json or as an HTML page (a fragment for htmx)."""
    if wants_problem_json():
        return problem(status, code, title, detail, **extra)
    page = status if status in _ERROR_PAGES else (500 if status >= 500 else 400)
    html = render_template(
        f"errors/{page}.html", status=status, code=code, title=title, detail=detail,
        fragment=is_htmx(), request_id=request_id(),
    )
    return html, status


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register_errors(app: Flask) -> None:
    """Every error leaves through render_error; the session is rolled back first."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        db.session.rollback()
        extra = dict(exc.extra)
        if exc.field:
            extra["field"] = exc.field
        return render_error(exc.status, exc.code, str(exc.title), exc.detail, **extra)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        db.session.rollback()
        return render_error(400, "csrf_failed", str(_l("The form expired or was sent from elsewhere. "
                                                        "Reload the page and try again.")))

    for unavailable in DATABASE_UNAVAILABLE:
        app.register_error_handler(unavailable, database_unavailable)

    @app.after_request
    def _keep_the_said_wait(response):
        # Flask-Limiter writes its own Retry-After after this handler, computed a moment later (it can say 59 where
        # the page said 60). Registered before the limiter, this hook runs after it: header and page agree.
        said = getattr(response, "hubx_retry_after", None)
        if said is not None:
            response.headers["Retry-After"] = str(said)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        original = getattr(exc, "original_exception", None)
        if isinstance(original, DATABASE_UNAVAILABLE):  # raised outside the view (a hook), wrapped by Flask
            return database_unavailable(original)
        db.session.rollback()
        status = exc.code or 500
        title = _HTTP_TITLES.get(status, exc.name)
        retry = (getattr(exc, "retry_after", None) or _retry_after_from(exc)) if status == 429 else None
        response = render_error(status, _code_for(exc), str(title), _wait_text(retry) if retry else None)
        if retry:
            response = app.make_response(response)
            response.headers["Retry-After"] = str(retry)
            response.hubx_retry_after = retry  # the page says this wait: the header keeps it (below)
        elif status == 405 and getattr(exc, "valid_methods", None):
            response = app.make_response(response)
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(DataError)
    def _refused_value(exc: DataError):
        # The last line of defence (validators and app.core.inputs come first): the database refused a value
        # (out of range, NUL, bad encoding). Bad input, not our failure; logged without the statement's values.
        db.session.rollback()
        log.warning("the database refused a value (%s) on %s %s", type(exc.orig).__name__, request.method,
                    request.path)
        return render_error(422, "invalid_input", str(_l("A value is out of range or cannot be stored.")))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return render_error(500, "internal_error", str(_HTTP_TITLES[500]))


def database_unavailable(exc: Exception):
    """503 with Retry-After for a database that cannot be reached or cannot take the write now.

    Nothing of the request is kept (the session is rolled back), and nothing is kept broken: SQLAlchemy has
    already invalidated a connection that dropped (and, for a disconnect, the connections pooled before it),
    so the next request connects afresh and succeeds once the database is back."""
    _settle_locale()
    rollback_quietly()
    log.warning("database unavailable, answered 503: %s", _describe(exc))
    _forget_database_objects()
    response = current_app.make_response(render_error(503, "database_unavailable", str(_HTTP_TITLES[503])))
    response.headers["Retry-After"] = str(current_app.config.get("DATABASE_RETRY_AFTER_SECONDS", 5))
    return response


def _settle_locale() -> None:
    """Choose the page's language while what the request loaded (the person, the tenant) is still readable:
    after the rollback their attributes are expired, and reading them would need the database again. A person
    the request never loaded is not loaded now (that would try the database again): their session's language,
    else their browser's, decides."""
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is None:
        return
    if "_login_user" not in g:
        g._login_user = login_manager.anonymous_user()
    try:
        get_locale()
    except Exception:  # noqa: BLE001 (something the choice reads was never loaded: choose without it)
        _forget_database_objects()
        get_locale()


def _forget_database_objects() -> None:
    """The page is rendered without the database: as nobody in particular (the navigation lists the person's
    tenants, which are in the database), outside any tenant. The sign-in itself (the session cookie) stays."""
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is not None:
        g._login_user = login_manager.anonymous_user()
    state.pop("tenant")
    state.pop("membership")


def _describe(exc: Exception) -> str:
    """The error's class and the first line of the driver's message; never SQLAlchemy's text of it, which
    carries the statement and its parameters."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200] if text else ''}"


def refused_wait(exc: HTTPException) -> tuple[int, str]:
    """A 429's wait: (seconds, in words), as the error page says it and the Retry-After header carries it. For a
    page that answers a 429 itself (the sign-in form keeps its form): set `response.hubx_retry_after` to the
    seconds, and the header keeps them (`_keep_the_said_wait`)."""
    retry = getattr(exc, "retry_after", None) or _retry_after_from(exc)
    return retry, _wait_text(retry)


def _wait_text(seconds: int) -> str:
    """How long a refused client should wait, in words (whole minutes from two minutes up)."""
    if seconds >= 120:
        minutes = -(-seconds // 60)
        return ngettext("Try again in %(num)d minute.", "Try again in %(num)d minutes.", minutes)
    return ngettext("Try again in %(num)d second.", "Try again in %(num)d seconds.", max(seconds, 1))


def _retry_after_from(exc: HTTPException) -> int:
    response = getattr(exc, "response", None)
    if response is not None and response.headers.get("Retry-After"):
        return int(response.headers["Retry-After"])
    return 60
