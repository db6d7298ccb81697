"""The two kinds of request the app serves: browser pages (cookie session, sign-in state, CSRF, CSP nonce) and
the bearer-token JSON API under /api/ (none of those: stateless, so it skips their per-request cost)."""

from __future__ import annotations

from contextlib import contextmanager

from flask import Flask, Request, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.utils import cached_property

API_PREFIX = "/api/"
#: pages that live under the API's prefix (the reference a person reads in a browser, with the portal's layout):
#: registered by the API package (`register_api_page`), not known here
API_PAGES: set[str] = set()


def register_api_page(path: str) -> None:
    """Serve `path`, under the API prefix, as a page: cookie session, CSRF, sign-in state, the page CSP."""
    API_PAGES.add(path)


class HubxRequest(Request):
    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        """Flask's, with JSON nested too deep for the parser (it raises RecursionError) answered as any
        malformed body is: None when silent, else `on_json_loading_failed` (400). For every reader of the
        body: `app.api.check_body`, spectree, a view. (Not cached: the parser gives up within ~1,000 levels.)"""
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            return self.on_json_loading_failed(ValueError("JSON nested too deeply"))

    @cached_property
    def is_api(self) -> bool:
        """A JSON API request: authenticated by its bearer token only, never by a cookie."""
        return self.path.startswith(API_PREFIX) and self.path not in API_PAGES


class WebSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session for pages; API requests get Flask's null session instead.

    The API ignores cookies by design (a browser's ambient cookie must never authenticate an API call), so
    it does not pay for reading one, and a write to the session from API code fails loudly."""

    def __init__(self) -> None:
        self._serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def open_session(self, app: Flask, request: HubxRequest):
        if request.is_api:
            return None  # Flask then uses make_null_session()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's, made once for the keys in use instead of on every page request (about 25 µs each time);
        made again when the secret key or its fallbacks change (tests and key rotation change them)."""
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


def register_request_kinds(app: Flask) -> None:
    app.request_class = HubxRequest
    app.session_interface = WebSessionInterface()


PHASES = ("before_request_funcs", "after_request_funcs", "teardown_request_funcs")


@contextmanager
def pages_only(app: Flask):
    """Every app-wide request hook registered inside this block runs for pages only, never for API requests.

    For what a bearer-token request has no use for: CSRF, Flask-Login's cookie, Flask-Limiter's per-address
    middleware (the API limits per token, app.tokens.auth), session timeouts, /t/<slug>/ tenancy. The hooks
    registered in the block are taken out of the app's lists and replaced by one hook per phase that runs them,
    in their order, unless the request is an API one: an API request pays one call per phase, not one per hook.
    """
    before = {phase: list(getattr(app, phase).get(None, [])) for phase in PHASES}
    yield
    for phase in PHASES:
        funcs = getattr(app, phase).setdefault(None, [])
        added = [hook for hook in funcs if hook not in before[phase]]
        if not added:
            continue
        funcs[:] = [hook for hook in funcs if hook not in added]
        funcs.append(_page_hook(phase, added))


def _page_hook(phase: str, hooks: list):
    if phase == "before_request_funcs":
        def run_before():
            if not request.is_api:
                for hook in hooks:
                    answer = hook()
                    if answer is not None:
                        return answer  # a before hook that answers ends the request, as in Flask
            return None
        return run_before
    if phase == "after_request_funcs":
        def run_after(response):
            if not request.is_api:
                for hook in reversed(hooks):  # Flask runs after hooks last-registered first
                    response = hook(response)
            return response
        return run_after

    def run_teardown(exc):
        if not request.is_api:
            for hook in reversed(hooks):
                hook(exc)
    return run_teardown
