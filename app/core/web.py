"""Web plumbing shared by every blueprint: tenant resolution for /t/<slug>/ URLs, sign-in state,
session timeouts and template globals."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, g, request, session
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from sqlalchemy import select

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.core.models import Membership, Tenant, User, UserStatus
from app.core.net import client_ip, user_agent
from app.core.request_state import state
from app.core.security import request_id
from app.core.tenancy import reset_current_tenant, set_current_tenant
from app.core.ui import nav_items
from app.extensions import db, login_manager
from app.permissions.gate import can


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    # Checked on every request: a blocked or deleted user is signed out by their next request.
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.profile is None or user.profile.status != UserStatus.ACTIVE:
        return None
    return user


def memberships_of(user: User) -> list[Membership]:
    """Every live membership of `user`, across tenants, ordered by tenant name."""
    return list(
        db.session.scalars(
            select(Membership).join(Membership.tenant)
            .where(Membership.user_id == user.id).order_by(Tenant.name)
            .execution_options(all_tenants=True)
        )
    )


def all_tenants() -> list[Tenant]:
    """Every live tenant, by name (the operators' tenant switcher)."""
    return list(db.session.scalars(select(Tenant).order_by(Tenant.name)))


def _enforce_session_timeouts() -> None:
    # Signed timestamps in the session cookie, checked here on every request: the idle and
    # absolute limits hold even if the browser keeps the cookie.
    if not current_user.is_authenticated:
        return
    now = utcnow().timestamp()
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]).total_seconds()
    absolute = timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]).total_seconds()
    started, seen = session.get("auth_at", 0), session.get("seen_at", 0)
    if now - started > absolute or now - seen > idle:
        logout_user()
        session.clear()
        return
    if now - seen > 30:  # refresh at most every 30 s so the cookie is not rewritten on every request
        session["seen_at"] = now


def _resolve_tenant():
    slug = (request.view_args or {}).get("slug")
    if slug is None:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    membership = db.session.scalar(
        select(Membership).join(Membership.tenant)
        .where(Tenant.slug == slug, Membership.user_id == current_user.id)
        .execution_options(all_tenants=True)
    )
    if membership is not None:
        tenant = membership.tenant
    elif current_user.is_operator:  # operators may look into every tenant (what they may do: the gate)
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    else:
        tenant = None
    if tenant is None:
        abort(404)  # the same answer whether the tenant exists or not
    g.tenant, g.membership = tenant, membership
    g.tenant_token = set_current_tenant(tenant.id)
    return None


def register_tenancy(app: Flask) -> None:
    """Sign-in state and tenant of every page request."""
    login_manager.login_view = "auth.login"
    # Flask-Login's own default text, made translatable; str() renders it in the request's locale.
    login_manager.login_message = _l("Please log in to access this page.")
    login_manager.localize_callback = str
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.before_request(_enforce_session_timeouts)
    app.before_request(_resolve_tenant)


def register_tenant_reset(app: Flask) -> None:
    """Every request (page or API) that set a current tenant resets it at its end."""

    @app.teardown_request
    def _leave_tenant(_exc):
        token = g.pop("tenant_token", None)
        if token is not None:
            reset_current_tenant(token)


def register_templates(app: Flask) -> None:
    """Globals every template can use."""

    @app.context_processor
    def _globals():
        tenant, membership = g.get("tenant"), g.get("membership")
        return {
            "current_tenant": tenant,
            "current_membership": membership,
            "nav": nav_items(can) if tenant is not None else [],
            "my_memberships": memberships_of(current_user) if current_user.is_authenticated else [],
            "operator_tenants": all_tenants() if current_user.is_authenticated and current_user.is_operator else [],
            "can": can,
        }

    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""


def current_actor() -> Actor:
    """Who acts in this request, built once and kept in the request state: the bearer check sets it for an API
    request (the token's owner, with the token's scope); for a page it is the signed-in person. Every route
    passes this to the services it calls."""
    actor = state.actor
    if actor is None:
        actor = state.actor = Actor(user=current_user._get_current_object(), **request_meta())
    return actor


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
