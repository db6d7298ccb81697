"""JSON routes for the signed-in sessions of a tenant's members: the list, and ending one. The same services as
the tenant's sessions page (app.sessions.services), under the same ceiling."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, spec
from app.api.auth import Scope, api_auth
from app.api.lists import ListOf, list_body
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.web import current_actor
from app.sessions.models import UserSession
from app.sessions.services import end_member_session, tenant_session_page
from app.sessions.web import lifetimes
from app.users.models import User

bp = Blueprint("sessions_api", __name__, url_prefix="/api/v1")
TAG = "sessions"
ERRORS = AUTH_ERRORS


class SessionOut(BaseModel):
    id: int
    user_id: int
    email: str
    device: str = Field(description="A readable label of the browser and system (\"Firefox on Linux\")")
    ip: str | None = Field(description="The address it signed in from")
    signed_in_at: datetime
    last_seen_at: datetime
    expires_at: datetime = Field(description="Its absolute end; without activity it ends sooner, after the "
                                             "deployment's idle limit")


class SessionQuery(PageQuery):
    q: str | None = Field(None, max_length=100, description="In the member's email address or name")


def session_json(row: UserSession, user: User) -> dict:
    """A session as the API shows it (never its digest)."""
    return {"id": row.id, "user_id": user.id, "email": user.email, "device": row.device, "ip": row.ip,
            "signed_in_at": row.signed_in_at, "last_seen_at": row.last_seen_at, "expires_at": row.expires_at}


@bp.get("/sessions")
@api_auth(Scope.ADMIN, "sessions.view")
@spec.validate(query=SessionQuery, resp=Response(HTTP_200=ListOf[SessionOut], HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def list_sessions(query: SessionQuery):
    """The live sessions of the tenant's members, most recently active first."""
    page = tenant_session_page(state.bearer.credential.tenant_id, now=utcnow(), lifetimes=lifetimes(),
                               search=query.q or None, page=query.page, per_page=query.per_page, clamp=False)
    return list_body(page, [session_json(row, user) for row, user in page.items])


@bp.delete("/sessions/<id:session_id>")
@api_auth(Scope.ADMIN, "sessions.manage")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=Problem, **ERRORS), tags=[TAG])
def end_session(session_id: int):
    """End a member's session: their next request finds them signed out. 404 for a session that ended already or
    is not of this tenant's members; 403 `outranked` for someone whose role ranks above the caller's."""
    end_member_session(current_actor(), state.bearer.credential.tenant_id, session_id, now=utcnow())
    return "", 204
