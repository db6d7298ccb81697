"""Web plumbing shared by every blueprint: tenant resolution for /t/<slug>/ URLs, sign-in state and template
globals. (The session check itself is the sessions domain's user loader.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, request, url_for
from flask_babel import format_datetime, format_decimal
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import HTTPException

from app.core import formnonce
from app.core.actor import Actor
from app.core.net import client_ip, user_agent
from app.core.request_state import state
from app.core.security import request_id
from app.core.tenancy import reset_current_tenant, set_current_tenant
from app.core.ui import can, nav_items
from app.extensions import login_manager

# The function that finds the tenant of a `/t/<slug>/` page for the signed-in person: (tenant, membership), or
# None when they may not see it. The tenants domain registers it (`register_tenant_lookup`).
_TENANT_LOOKUP: list[Callable[[str, Any], tuple[Any, Any] | None]] = []


def register_tenant_lookup(lookup: Callable[[str, Any], tuple[Any, Any] | None]) -> None:
    """Set how `/t/<slug>/` pages find their tenant: `lookup(slug, user) -> (tenant, membership) | None`."""
    _TENANT_LOOKUP[:] = [lookup]


def _resolve_tenant():
    slug = (request.view_args or {}).get("slug")
    if slug is None:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    found = _TENANT_LOOKUP[0](slug, current_user) if _TENANT_LOOKUP else None
    if found is None:
        abort(404)  # the same answer whether the tenant exists or not
    state.tenant, state.membership = found
    enter_tenant(state.tenant.id)
    return None


def enter_tenant(tenant_id: int) -> None:
    """Make `tenant_id` current for the rest of this request (the tenancy guard filters by it); the request's end
    undoes it. Pages enter the tenant of their URL; the API, its token's."""
    state.tenant_token = set_current_tenant(tenant_id)


def register_tenancy(app: Flask) -> None:
    """Sign-in state and tenant of every page request."""
    login_manager.login_view = "auth.login"
    # No message on the way to the sign-in page: a first visit is not an error, and the page says what to do.
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    app.before_request(_resolve_tenant)
    app.after_request(_remember_tenant)


# ---------------------------------------------------------------- the last tenant used
# A signed cookie names the tenant a person last opened, for them only (it carries their id): `/`, the logo outside
# a tenant and the next sign-in land there (`remembered_tenant`). It outlives sign-out; it proves nothing (the
# tenant is looked up again, for that person, before anyone is sent to it).
LAST_TENANT_COOKIE = "hubx_tenant"
_LAST_TENANT_SALT = "hubx-last-tenant"
_YEAR = 365 * 24 * 3600


def _last_tenant_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_LAST_TENANT_SALT)


def remembered_tenant() -> str | None:
    """The slug of the tenant the signed-in person last opened in this browser, or None."""
    raw = request.cookies.get(LAST_TENANT_COOKIE)
    if not raw or not current_user.is_authenticated:
        return None
    try:
        user_id, slug = _last_tenant_signer().loads(raw)
    except (BadSignature, TypeError, ValueError):
        return None
    return slug if user_id == current_user.id and isinstance(slug, str) else None


def _remember_tenant(response):
    tenant = state.tenant
    if tenant is None or response.status_code >= 400 or not current_user.is_authenticated:
        return response
    if remembered_tenant() != tenant.slug:
        response.set_cookie(LAST_TENANT_COOKIE, _last_tenant_signer().dumps([current_user.id, tenant.slug]),
                            max_age=_YEAR, httponly=True, samesite="Lax",
                            secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


def page_endpoint() -> tuple[str | None, dict]:
    """The page the person is looking at, as (endpoint, arguments): this request's for a page, the address bar's
    for an htmx request (htmx sends it as `HX-Current-URL`), so parts of the page rendered for htmx (the top bar
    after a save) link and highlight as the page does. (None, {}) when it names no GET page of this app."""
    if request.headers.get("HX-Request") != "true":
        return (request.endpoint, request.view_args or {}) if request.method == "GET" else (None, {})
    path = urlsplit(request.headers.get("HX-Current-URL", "")).path
    try:
        endpoint, args = current_app.create_url_adapter(request).match(path, method="GET")
    except HTTPException:  # not a page of this app, or a redirect (RequestRedirect is one)
        return None, {}
    return endpoint, args


def tenant_switch_url(slug: str) -> str:
    """Where the tenant switcher sends a person to tenant `slug`: the same page there when the page is one of every
    tenant (a GET page whose only argument is the tenant); from a page of one thing (a token's page), the section
    it belongs to (the navigation entry of the same blueprint: the token list); else that tenant's dashboard."""
    endpoint, args = page_endpoint()
    if endpoint and set(args) == {"slug"}:
        return url_for(endpoint, slug=slug)
    if endpoint:
        section = endpoint.partition(".")[0] + "."
        found = next((item.endpoint for item in nav_items(can) if item.endpoint.startswith(section)), None)
        if found is not None:
            return url_for(found, slug=slug)
    return url_for(TENANT_HOME_ENDPOINT, slug=slug)


TENANT_HOME_ENDPOINT = "tenants.dashboard"  # the kernel knows the tenant's home page by name only


def register_tenant_reset(app: Flask) -> None:
    """Every request (page or API) that set a current tenant resets it at its end."""

    @app.teardown_request
    def _leave_tenant(_exc):
        token = state.pop("tenant_token")
        if token is not None:
            reset_current_tenant(token)


# What templates may ask beyond the current tenant: a permission check (`can`, registered by the permissions
# domain in `app.core.ui`) and values other domains provide (the tenant switcher's lists). Each value is computed
# only when a template reads it, so an htmx fragment that shows no navigation pays for none of it.
_TEMPLATE_VALUES: dict[str, Callable[[], Any]] = {}


def register_template_value(name: str, value: Callable[[], Any]) -> None:
    """Offer `name` to every template: `value()`, computed the first time a template reads it in a request."""
    _TEMPLATE_VALUES[name] = value


class Lazy:
    """A sequence computed on first use (iteration, length, truth, indexing) and then kept."""

    __slots__ = ("_compute", "_value")

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute, self._value = compute, None

    def _get(self):
        if self._value is None:
            self._value = list(self._compute())
        return self._value

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())

    def __getitem__(self, index):
        return self._get()[index]


def register_templates(app: Flask) -> None:
    """Globals every template can use."""

    @app.context_processor
    def _globals():
        tenant = state.tenant
        values = {name: Lazy(value) for name, value in _TEMPLATE_VALUES.items()}
        return {
            "current_tenant": tenant,
            "current_membership": state.membership,
            "nav": Lazy(lambda: nav_items(can)) if tenant is not None else [],
            "can": can,
            "tenant_switch_url": tenant_switch_url,
            "page_endpoint": page_endpoint,
            **values,
        }

    # a fresh one-time nonce for a button that posts through htmx (a global: macros see it without context)
    app.jinja_env.globals["form_nonce"] = formnonce.issue
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""
    app.jinja_env.filters["number"] = format_decimal  # 1,000 / 1.000 in the person's language


def current_actor() -> Actor:
    """Who acts in this request, built once and kept in the request state: for an API request the bearer's owner
    (with the token's scope), for a page the signed-in person. Every route passes this to the services it calls."""
    if state.actor is None:
        bearer = state.bearer
        state.actor = bearer.actor() if bearer is not None else request_actor(current_user._get_current_object())
    return state.actor


def request_actor(user, *, scope: str | None = None) -> Actor:
    """An Actor for `user` acting in this request (its IP, user agent and id), through a token of `scope` if any:
    the one constructor `current_actor()` and the bearer use."""
    return Actor(user=user, scope=scope, **request_meta())


def request_meta() -> dict[str, str]:
    """IP, user agent and request id of this request, as services take them."""
    return {"ip": client_ip(), "user_agent": user_agent(), "request_id": request_id()}


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path of this application, else None (the caller goes to its default page).

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so `/\t/evil.example` and
    `/\\evil.example` lead elsewhere; percent-encoding may hide either. The value is therefore checked as it is
    and after decoding (until decoding changes nothing): no control character, no backslash, no scheme, no host,
    one leading slash."""
    if not target or len(target) > 2048:
        return None
    seen, decoded = target, None
    for _ in range(4):  # /%252F... decodes in steps; four is past anything a browser would undo
        if not _is_local_path(seen):
            return None
        decoded = unquote(seen)
        if decoded == seen:
            return target
        seen = decoded
    return None


def _is_local_path(value: str) -> bool:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value) or "\\" in value:
        return False
    if not value.startswith("/") or value.startswith("//"):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc
