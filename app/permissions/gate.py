"""The one permission gate used by every tenant route, and `can()` for templates."""

from __future__ import annotations

import time
from functools import wraps

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from app import audit
from app.core.errors import Forbidden, render_error
from app.core.request_state import state
from app.core.ui import register_permission_check
from app.core.web import request_meta
from app.extensions import login_manager
from app.permissions.policy import Decision, Policy
from app.permissions.resolver import RESOLVE_SECONDS, load_policy

DASHBOARD = "tenants.dashboard"  # where a hidden module sends people


def request_policy() -> Policy | None:
    """The signed-in user's policy in the current tenant, loaded once per request."""
    if not state.has("policy"):
        tenant = state.tenant
        if tenant is None or not current_user.is_authenticated:
            return None
        state.policy = load_policy(current_user.id, tenant.id)
    return state.policy


def check(key: str, resource: str | None = None) -> Decision:
    """Decide `key` for the current user in the current tenant."""
    started = time.perf_counter()
    policy = request_policy()
    if policy is None:
        return Decision(False, "not signed in to a tenant")
    decision = policy.decide(key, resource)
    RESOLVE_SECONDS.observe(time.perf_counter() - started)
    return decision


def can(key: str, resource: str | None = None) -> bool:
    """True when the current user may do `key` here (for templates: show only what may be opened)."""
    return check(key, resource).allowed


def _deny(key: str, decision: Decision):
    if current_app.config["FEATURE_LOG_MODULE_DENIALS"]:
        audit.record("permission.denied", tenant_id=state.tenant.id, actor_id=current_user.id,
                     target_type="permission", target_id=key, outcome="failure",
                     details={"reason": decision.reason, "rule_id": decision.rule.id if decision.rule else None},
                     **request_meta())
    if current_app.config["FEATURE_MODULE_DENY_403"] or request.endpoint == DASHBOARD:
        # (hiding the dashboard itself by sending people to it would loop)
        # Rendered, not raised: the gate runs before the view, so there is nothing to roll back,
        # and raising would roll back the denial's own audit event.
        return render_error(Forbidden.status, Forbidden.code, str(Forbidden.title), decision.reason,
                            permission=key)
    # Hide the module: back to the dashboard, with the reason.
    flash(decision.reason, "warning")
    return redirect(url_for(DASHBOARD, slug=state.tenant.slug))


def require(key: str):
    """Route decorator: the current user must be allowed `key` in the URL's tenant."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            decision = check(key)
            if not decision.allowed:
                return _deny(key, decision)
            return view(*args, **kwargs)

        wrapped.permission = key
        return wrapped

    return decorator


register_permission_check(can)  # navigation, cards and templates ask the same gate
