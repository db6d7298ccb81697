"""JSON routes for tokens: who am I, list, create, show, revoke, rotate, introspect."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, StrictModel, spec
from app.api.auth import Scope, api_auth
from app.api.lists import ListOf, list_body
from app.core.fieldadapters import api_field
from app.core.fields import MAX_CIDRS, check_cidrs, check_optional_reason, name_pattern, optional_reason_pattern
from app.core.request_state import state
from app.core.web import current_actor
from app.tokens import auth, services
from app.tokens.models import NAME_MAX, STATUSES, ApiToken, check_token_name, check_token_status, token_status

bp = Blueprint("tokens_api", __name__, url_prefix="/api/v1")
TAG = "tokens"
ERRORS = AUTH_ERRORS


class TokenOut(BaseModel):
    id: int
    name: str
    scope: str
    status: str
    hint: str
    owner_id: int
    owner_email: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    last_used_at: datetime | None
    rate_limit: int | None
    ip_allow: list[str]
    ip_deny: list[str]
    device_binding: bool
    successor_id: int | None
    grace_until: datetime | None


class IssuedOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself. Shown this once; only a digest is stored.")


# The fields' own checks (app.core.fields), the same the pages and the commands run.
TokenStatus = api_field(check_token_status, enum=list(STATUSES))
TokenName = api_field(check_token_name, pattern=name_pattern(NAME_MAX))  # 1 to 100 characters, trimmed
IpRules = api_field(check_cidrs, list[str], maxItems=MAX_CIDRS)


class TokenQuery(PageQuery):
    status: TokenStatus | None = Field(None, description="`rotated`: replaced, in its grace period; "
                                                         "`retired`: replaced, grace over")
    scope: str | None = Field(None, pattern="^(read|write|admin)$")
    owner_id: int | None = Field(None, ge=1, le=2**31 - 1)
    q: str | None = Field(None, max_length=100)
    expiring_within_days: int | None = Field(None, ge=1, le=3650)


class CreateToken(StrictModel):
    name: TokenName
    # JSON has no enums: the value arrives as text, which a strict enum field would refuse.
    scope: Scope = Field(strict=False)
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    no_expiry: bool = False
    rate_limit: int | None = Field(None, ge=1, le=100_000)
    ip_allow: IpRules = Field(default_factory=list, description="Addresses or CIDR ranges; empty: anywhere")
    ip_deny: IpRules = Field(default_factory=list, description="Addresses or CIDR ranges never allowed")
    device_binding: bool = False


OptionalReason = api_field(check_optional_reason, pattern=optional_reason_pattern())  # empty: "manual"


class RevokeToken(StrictModel):
    reason: OptionalReason = ""


class NoBody(StrictModel):
    """No fields: the body may be left out or be `{}`; anything else is refused (422)."""


class Introspect(StrictModel):
    token: str = Field(min_length=1, max_length=200)


class IntrospectOut(BaseModel):
    active: bool
    scope: str | None = None
    exp: int | None = None
    sub: str | None = None
    username: str | None = None
    tenant: str | None = None
    token_id: int | None = None


class UserOut(BaseModel):
    id: int
    email: str
    name: str


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut
    role: str | None
    token: TokenOut


def token_json(token: ApiToken | auth.Credential, owner_email: str | None = None) -> dict:
    """A token as the API shows it (never the secret or its digest): an ApiToken, or the bearer's own row
    (with its owner's address given)."""
    return {
        "id": token.id, "name": token.name, "scope": token.scope.value, "status": token_status(token),
        "hint": token.hint, "owner_id": token.user_id, "owner_email": owner_email or token.user.email,
        "created_at": token.created_at, "expires_at": token.expires_at, "revoked_at": token.revoked_at,
        "revoke_reason": token.revoke_reason, "last_used_at": token.last_used_at, "rate_limit": token.rate_limit,
        "ip_allow": token.ip_allow, "ip_deny": token.ip_deny, "device_binding": token.device_binding,
        "successor_id": token.successor_id, "grace_until": token.grace_until,
    }


def _manages() -> bool:
    return state.bearer.policy.allows("tokens.manage")  # only the answer is needed: skip building the reason


def _visible_token(token_id: int) -> ApiToken:
    return services.get_token(state.bearer.tenant, token_id, viewer=state.bearer.owner, manage=_manages())


@bp.get("/me")
@api_auth(Scope.READ)
@spec.validate(resp=Response(HTTP_200=MeOut, **ERRORS), tags=["me"], skip_validation=True)
def me():
    """The token's owner, tenant, role and the token itself."""
    # All of it was read by the bearer check (the token's row, its owner's cached policy): no further query.
    # The view builds its response model (which validates it), so spectree only serialises it; there is no
    # request body or query to validate.
    token, policy = state.bearer.credential, state.bearer.policy
    owner = policy.subject
    return MeOut(
        user=UserOut(id=token.user_id, email=owner.email, name=owner.name),
        tenant=TenantOut(id=token.tenant_id, slug=owner.tenant_slug, name=owner.tenant_name),
        role=policy.role.value if policy.role else None,
        token=TokenOut(**token_json(token, owner.email)),
    )


@bp.get("/tokens")
@api_auth(Scope.READ, "tokens.view")
@spec.validate(query=TokenQuery, resp=Response(HTTP_200=ListOf[TokenOut], HTTP_422=Problem, **ERRORS), tags=[TAG])
def list_tokens(query: TokenQuery):
    """The caller's tokens; every token of the tenant with `tokens.manage`."""
    owner = query.owner_id if _manages() else state.bearer.credential.user_id
    page = services.list_tokens(state.bearer.tenant, owner_id=owner, status=query.status, scope=query.scope,
                                search=query.q,
                                expiring_within_days=query.expiring_within_days, page=query.page,
                                per_page=query.per_page)
    return list_body(page, [token_json(t) for t in page.items])


@bp.post("/tokens")
@api_auth(Scope.WRITE, "tokens.create")
@spec.validate(json=CreateToken, resp=Response(HTTP_201=IssuedOut, HTTP_409=Problem, HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def create_token(json: CreateToken):
    """Create a token for the caller; the secret is in this response only."""
    state.no_store = True  # the secret must not stay in any cache
    issued = services.create_token(
        current_actor(), state.bearer.tenant, state.bearer.owner, name=json.name, scope=json.scope.value,
        expires_in_days=json.expires_in_days, no_expiry=json.no_expiry, rate_limit=json.rate_limit,
        ip_allow=json.ip_allow, ip_deny=json.ip_deny, device_binding=json.device_binding,
    )
    return {"token": token_json(issued.token), "secret": issued.secret}, 201


@bp.get("/tokens/<id:token_id>")
@api_auth(Scope.READ, "tokens.view")
@spec.validate(resp=Response(HTTP_200=TokenOut, HTTP_404=Problem, **ERRORS), tags=[TAG])
def show_token(token_id: int):
    """One token (the caller's own, or any with `tokens.manage`)."""
    return token_json(_visible_token(token_id))


@bp.post("/tokens/<id:token_id>/revoke")
@api_auth(Scope.WRITE, "tokens.revoke")
@spec.validate(json=RevokeToken, resp=Response(HTTP_200=TokenOut, HTTP_404=Problem, HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def revoke_token(token_id: int, json: RevokeToken):
    """Revoke a token now, with every other token of its rotation chain (idempotent). Tokens of someone whose
    role ranks above the caller's are refused (403 `outranked`)."""
    token = services.revoke_token(current_actor(), _visible_token(token_id), reason=json.reason or "manual")
    return token_json(token)


@bp.post("/tokens/<id:token_id>/rotate")
@api_auth(Scope.WRITE, "tokens.revoke")
@spec.validate(json=NoBody, resp=Response(HTTP_201=IssuedOut, HTTP_404=Problem, HTTP_409=Problem, HTTP_422=Problem,
                                         **ERRORS), tags=[TAG])
def rotate_token(token_id: int, json: NoBody):
    """Issue a successor; the old secret keeps working for the tenant's grace period. Only the token's owner may
    rotate it (others may revoke it), and only with a token whose scope covers the rotated token's."""
    state.no_store = True
    issued = services.rotate_token(current_actor(), _visible_token(token_id))
    return {"token": token_json(issued.token), "secret": issued.secret}, 201


@bp.post("/tokens/introspect")
@api_auth(Scope.READ, "tokens.manage")
@spec.validate(json=Introspect, resp=Response(HTTP_200=IntrospectOut, HTTP_422=Problem, **ERRORS), tags=[TAG])
def introspect(json: Introspect):
    """RFC 7662 style: is this token active, and what may it do? The same verdict as using it (a token of a
    blocked, locked or removed owner is inactive); tokens of other tenants are inactive. `scope` is what a use
    of it is granted now: its own scope, capped by what its owner may still use."""
    found = auth.introspect(json.token, state.bearer.credential.tenant_id)
    if found is None:
        return {"active": False}
    token, policy, scope = found
    return {
        "active": True, "scope": scope.value,
        "exp": int(token.expires_at.timestamp()) if token.expires_at else None,
        "sub": str(token.user_id), "username": policy.subject.email, "tenant": policy.subject.tenant_slug,
        "token_id": token.id,
    }
