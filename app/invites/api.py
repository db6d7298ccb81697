"""JSON routes for invites: create (a personal invite or a shareable link), list, show, revoke, resend, and the
public validation of a code (no token: the join flow of another client, a mobile app, asks whether a code is
good before asking for a name and a password)."""

from __future__ import annotations

from datetime import datetime
from functools import wraps

from flask import Blueprint, current_app
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, StrictModel, check_body, documented, parse_json, spec
from app.api.auth import Scope, api_auth, problem_response
from app.api.lists import ListOf, list_body
from app.core.errors import RateLimited
from app.core.fieldadapters import api_field
from app.core.mixins import utcnow
from app.core.net import client_ip
from app.core.ratelimit import hit
from app.core.request_state import state
from app.core.web import current_actor
from app.invites import services
from app.invites.links import join_url
from app.invites.models import (
    MAX_USES_MAX,
    TTL_MAX_HOURS,
    Invite,
    InviteKind,
    InviteStatus,
    check_email_domain,
    check_invite_email,
    check_invite_kind,
    check_invite_role,
    check_invite_status,
    check_max_uses,
    check_ttl_hours,
)

bp = Blueprint("invites_api", __name__, url_prefix="/api/v1")
TAG = "invites"
ERRORS = AUTH_ERRORS

# The fields' own checks (app/invites/models.py), the same the pages and `flask invites create` run.
RoleName = api_field(check_invite_role, enum=list(check_invite_role.choices))
KindName = api_field(check_invite_kind, enum=list(check_invite_kind.choices))
StatusName = api_field(check_invite_status, enum=list(check_invite_status.choices))
InviteEmail = api_field(check_invite_email, maxLength=254)
EmailDomain = api_field(check_email_domain, maxLength=253)
TtlHours = api_field(check_ttl_hours, int, minimum=1, maximum=TTL_MAX_HOURS)
MaxUses = api_field(check_max_uses, int, minimum=1, maximum=MAX_USES_MAX)


class InviteOut(BaseModel):
    id: int
    kind: str = Field(json_schema_extra={"enum": [k.value for k in InviteKind]})
    role: str = Field(json_schema_extra={"enum": list(check_invite_role.choices)})
    status: str = Field(json_schema_extra={"enum": [s.value for s in InviteStatus]},
                        description="As stored: `pending` past its expiry until the expiry job marks it `expired` "
                                    "(every 15 minutes); `usable` says whether a code works now")
    usable: bool = Field(description="Pending, not past its expiry, a seat left: its code would be accepted now")
    hint: str = Field(description="The code's prefix and last four characters (the code itself is never shown "
                                  "again)")
    email: str | None = Field(description="A personal invite's address (only it may accept); null: anyone with "
                                          "the code")
    email_domain: str | None = Field(description="A link's domain (only addresses there may join)")
    max_uses: int
    uses: int
    needs_approval: bool
    ttl_hours: int
    expires_at: datetime
    created_at: datetime
    inviter_id: int | None
    inviter_email: str | None
    accepted_at: datetime | None
    revoked_at: datetime | None


class IssuedInviteOut(BaseModel):
    invite: InviteOut
    code: str = Field(description="The invite's code. Shown this once; only a digest is stored.")
    link: str = Field(description="The join link holding the code. Shown this once, like the code.")


class InviteQuery(PageQuery):
    status: StatusName | None = None
    role: RoleName | None = None
    kind: KindName | None = None
    inviter_id: int | None = Field(None, ge=1, le=2**31 - 1)
    q: str | None = Field(None, max_length=100, description="In the address, the link's domain or the code's hint")


class CreateInvite(StrictModel):
    kind: KindName = Field(InviteKind.PERSONAL.value, description="`personal` (one person) or `link` (shareable)")
    role: RoleName = Field(description="The role the new member gets: at most the caller's own (403 "
                                       "`beyond_your_rights`)")
    email: InviteEmail | None = Field(None, description="Personal invites: only this address may accept")
    ttl_hours: TtlHours | None = Field(
        None, description="Lifetime in hours; by default the tenant's invite lifetime, at most its longest")
    max_uses: MaxUses = Field(1, description="Links: how many people may join (personal: 1)")
    email_domain: EmailDomain | None = Field(None, description="Links: only addresses at this domain may join")
    needs_approval: bool = Field(False, description="Links: a join waits for an admin's approval")


class NoBody(StrictModel):
    """No fields: the body may be left out or be `{}`; anything else is refused (422)."""


class ValidateCode(StrictModel):
    code: str = Field(max_length=200, description="An invite code as typed or pasted (`hbx_i_…`)")


class ValidationOut(BaseModel):
    valid: bool
    role: str | None = Field(None, json_schema_extra={"enum": list(check_invite_role.choices)},
                             description="Only when valid: the role the invite grants")
    tenant: str | None = Field(None, description="Only when valid: the organization's name")


def invite_json(invite: Invite, now: datetime) -> dict:
    """An invite as the API shows it: the hint, never the code or its digest."""
    return {
        "id": invite.id, "kind": invite.kind.value, "role": invite.role.value, "status": invite.status.value,
        "usable": (invite.status == InviteStatus.PENDING and invite.expires_at > now
                   and invite.uses < invite.max_uses),
        "hint": invite.hint, "email": invite.email, "email_domain": invite.email_domain,
        "max_uses": invite.max_uses, "uses": invite.uses, "needs_approval": invite.needs_approval,
        "ttl_hours": invite.ttl_hours, "expires_at": invite.expires_at, "created_at": invite.created_at,
        "inviter_id": invite.inviter_id, "inviter_email": invite.inviter.email if invite.inviter else None,
        "accepted_at": invite.accepted_at, "revoked_at": invite.revoked_at,
    }


def _issued(invite: Invite, code: str, now: datetime) -> tuple[dict, int]:
    state.no_store = True  # the code must not stay in any cache
    return {"invite": invite_json(invite, now), "code": code, "link": join_url(code)}, 201


@bp.post("/invites")
@api_auth(Scope.WRITE, "invites.create")
@spec.validate(json=CreateInvite, resp=Response(HTTP_201=IssuedInviteOut, HTTP_409=Problem, HTTP_422=Problem,
                                                **ERRORS), tags=[TAG])
def create_invite(json: CreateInvite):
    """Invite a person (`personal`) or make a shareable link (`link`); the code and the link are in this response
    only. Within the caller's daily limit (429 `invite_daily_limit`) and role (403 `beyond_your_rights`)."""
    now = utcnow()
    invite, code = services.issue(
        current_actor(), state.bearer.tenant, role=json.role, email=json.email, ttl_hours=json.ttl_hours, now=now,
        kind=json.kind, max_uses=json.max_uses, email_domain=json.email_domain, needs_approval=json.needs_approval)
    return _issued(invite, code, now)


@bp.get("/invites")
@api_auth(Scope.READ, "invites.view")
@spec.validate(query=InviteQuery, resp=Response(HTTP_200=ListOf[InviteOut], HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def list_invites(query: InviteQuery):
    """The tenant's invites and links, newest first, with the list page's filters."""
    page = services.list_invites(state.bearer.tenant, status=query.status, inviter_id=query.inviter_id,
                                 role=query.role, kind=query.kind, q=query.q, page=query.page,
                                 per_page=query.per_page)
    now = utcnow()
    return list_body(page, [invite_json(invite, now) for invite in page.items])


@bp.get("/invites/<id:invite_id>")
@api_auth(Scope.READ, "invites.view")
@spec.validate(resp=Response(HTTP_200=InviteOut, HTTP_404=Problem, **ERRORS), tags=[TAG])
def show_invite(invite_id: int):
    """One invite of the tenant (404 for another tenant's)."""
    return invite_json(services.get_invite(state.bearer.tenant, invite_id), utcnow())


@bp.post("/invites/<id:invite_id>/revoke")
@api_auth(Scope.WRITE, "invites.revoke")
@spec.validate(json=NoBody, resp=Response(HTTP_200=InviteOut, HTTP_404=Problem, HTTP_409=Problem, HTTP_422=Problem,
                                         **ERRORS), tags=[TAG])
def revoke_invite(invite_id: int, json: NoBody):
    """Stop a pending invite at once (409 `invite_not_pending` otherwise). An invite to a role above the caller's
    own: 403 `beyond_your_rights`."""
    now = utcnow()
    return invite_json(services.revoke(current_actor(), state.bearer.tenant, invite_id, now=now), now)


@bp.post("/invites/<id:invite_id>/resend")
@api_auth(Scope.WRITE, "invites.revoke")
@spec.validate(json=NoBody, resp=Response(HTTP_201=IssuedInviteOut, HTTP_404=Problem, HTTP_409=Problem,
                                         HTTP_422=Problem, **ERRORS), tags=[TAG])
def resend_invite(invite_id: int, json: NoBody):
    """A pending invite's fresh code and link, in this response only; the old code stops working at once. Counts
    against the caller's daily limit; an invite to a role above the caller's own: 403 `beyond_your_rights`."""
    now = utcnow()
    invite, code = services.resend(current_actor(), state.bearer.tenant, invite_id, now=now)
    return _issued(invite, code, now)


# ---------------------------------------------------------------- the public check of a code


class ValidationRateLimited(RateLimited):
    code = "rate_limited"
    title = _l("Too many checks from this address. Wait a moment and try again.")


def public_api(view):
    """For the one public JSON route: the per-address rate limit (Flask-Limiter's middleware runs for pages only),
    then the body's media type and syntax (`check_body`, which `api_auth` runs for the other routes)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        retry_after = hit(current_app.config["INVITE_VALIDATE_RATE_LIMIT"], "invite-validate", client_ip())
        if retry_after:
            error = ValidationRateLimited()
            error.retry_after = retry_after
            return problem_response(error)
        refusal = check_body()
        if refusal is not None:
            return refusal
        return view(*args, **kwargs)

    return wrapped


@bp.post("/invites/validate")
@public_api
@documented(json=ValidateCode, resp=Response(HTTP_200=ValidationOut, HTTP_422=Problem, HTTP_429=Problem), tags=[TAG],
            security={})
def validate_code():
    """Public (no token), limited per address: is this invite code good now? Answers only `{"valid": false}` (the
    same for a malformed, mistyped, unknown, expired, revoked or used code) or `{"valid": true, "role": ...,
    "tenant": "<name>"}`. Looking changes nothing; joining is done on the join page."""
    # On the hot path: the body checked by the model the document shows, without spectree's plumbing (`documented`)
    found = services.validate_summary(parse_json(ValidateCode).code, utcnow())
    if found is None:
        return {"valid": False}
    role, tenant_name = found
    return {"valid": True, "role": role.value, "tenant": tenant_name}
