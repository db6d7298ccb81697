"""JSON routes of the second factor: the token owner's own state (`GET /me/2fa`, never a secret) and an admin's
reset of a member's second factor (`POST /users/<id>/2fa/reset`). The same services as the pages
(app.twofactor.policy). A token cannot step up: the admin scope is the reset's gate (docs/decisions.md)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, Problem, spec
from app.api.auth import Scope, api_auth
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.web import current_actor
from app.twofactor import services
from app.twofactor.policy import reset_of_member, status_of

bp = Blueprint("twofactor_api", __name__, url_prefix="/api/v1")
TAG = "two-factor"
ERRORS = AUTH_ERRORS


class DeviceOut(BaseModel):
    id: int
    name: str = Field(description="The name its owner gave it")
    created_at: datetime = Field(description="When it was added (its first code accepted)")
    last_used_at: datetime | None


class TwoFactorOut(BaseModel):
    enabled: bool = Field(description="The owner passes a second step at sign-in")
    enabled_at: datetime | None
    devices: list[DeviceOut] = Field(description="Authenticator apps in use (never their secrets)")
    recovery_codes_left: int
    required_by: list[str] = Field(description="The names of the tenants that require a second factor of the "
                                               "owner's role there")
    locked_until: datetime | None = Field(description="Second steps refused until then (too many failures)")
    app_codes_off: bool = Field(description="The apps' codes are turned off after too many failures in a row (a "
                                       "recovery code turns them on again)")


@bp.get("/me/2fa")
@api_auth(Scope.READ)
@spec.validate(resp=Response(HTTP_200=TwoFactorOut, **ERRORS), tags=[TAG])
def my_twofa():
    """The token owner's own second factor: on since when, apps (names and dates), recovery codes left, the
    tenants requiring it, the lock."""
    owner = state.bearer.owner
    status = status_of(owner)
    now = utcnow()
    return {"enabled": status.enabled_at is not None, "enabled_at": status.enabled_at,
            "devices": [{"id": d.id, "name": d.name, "created_at": d.confirmed_at, "last_used_at": d.last_used_at}
                        for d in status.devices],
            "recovery_codes_left": status.recovery_codes_left,
            "required_by": list(services.requirement(owner.id).tenants),
            "locked_until": status.locked_until if status.locked_until and status.locked_until > now else None,
            "app_codes_off": status.disabled_at is not None}


@bp.post("/users/<id:user_id>/2fa/reset")
@api_auth(Scope.ADMIN, "users.manage")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=Problem, HTTP_409=Problem, **ERRORS), tags=[TAG])
def reset_member_twofa(user_id: int):
    """Reset a member's second factor, as the member's page does: their authenticator apps, recovery codes and
    remembered browsers are removed and their lock cleared; they are told by email. 404 for anyone not a member
    of the token's tenant; 403 `outranked` for someone whose role ranks above the caller's; 409 `conflict` for
    the caller themselves or a member with nothing to reset. A token cannot prove its owner is at the keyboard,
    so only admin-scope tokens may do this."""
    tenant = state.bearer.tenant
    reset_of_member(current_actor(), tenant, user_id, now=utcnow(), locale=tenant.default_locale)
    return "", 204
