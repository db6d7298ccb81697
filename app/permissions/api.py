"""JSON routes for permission rules and checks."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, StrictModel, page_body, spec
from app.core.actor import Actor
from app.core.fieldadapters import api_field
from app.core.fields import check_expiry, check_reason, reason_pattern
from app.core.net import client_ip, user_agent
from app.core.security import request_id
from app.errors import NotFound
from app.permissions import services
from app.permissions.models import PermissionRule
from app.tokens.auth import api_auth
from app.tokens.models import Scope

bp = Blueprint("permissions_api", __name__, url_prefix="/api/v1")
TAG = "permissions"
ERRORS = AUTH_ERRORS


class RuleOut(BaseModel):
    id: int
    user_id: int
    effect: str
    target: str
    resource: str | None
    scope: str
    expires_at: datetime | None
    reason: str
    created_at: datetime
    created_by_id: int | None


class RuleList(BaseModel):
    items: list[RuleOut]
    page: int
    per_page: int
    total: int
    pages: int


class RuleQuery(PageQuery):
    user_id: int | None = Field(None, ge=1, le=2**31 - 1)
    effect: str | None = Field(None, pattern="^(allow|deny)$")
    module: str | None = Field(None, max_length=32)
    q: str | None = Field(None, max_length=100)


# The fields' own checks (app.core.fields), the same the rule form and the service run.
Expiry = api_field(check_expiry, datetime)
Reason = api_field(check_reason, pattern=reason_pattern())  # 1 to 500 characters, trimmed; line breaks allowed


class CreateRule(StrictModel):
    user_id: int = Field(ge=1, le=2**31 - 1)
    effect: str = Field(pattern="^(allow|deny)$")
    target: str = Field(min_length=3, max_length=65, description="`module.action` or `module.*`")
    resource: str | None = Field(None, max_length=100, description="`type:id`, e.g. `user:42`")
    expires_at: Expiry | None = Field(None, strict=False, description="ISO 8601 with a time zone, in the future "
                                                                       "(years 2000 to 2999)")
    reason: Reason
    scope: str = Field("tenant", pattern="^(tenant|global)$")


class CheckIn(StrictModel):
    user_id: int = Field(ge=1, le=2**31 - 1)
    action: str = Field(min_length=3, max_length=65)
    resource: str | None = Field(None, max_length=100)


class CheckOut(BaseModel):
    allowed: bool
    reason: str
    rule_id: int | None
    trace: list[str]


def rule_json(rule: PermissionRule) -> dict:
    return {"id": rule.id, "user_id": rule.user_id, "effect": rule.effect.value, "target": rule.target,
            "resource": rule.resource, "scope": "global" if rule.is_global else "tenant",
            "expires_at": rule.expires_at, "reason": rule.reason, "created_at": rule.created_at,
            "created_by_id": rule.created_by_id}


def _actor() -> Actor:
    return Actor(g.bearer.owner, ip=client_ip(), user_agent=user_agent(), request_id=request_id())


@bp.get("/permissions/rules")
@api_auth(Scope.READ, "permissions.view")
@spec.validate(query=RuleQuery, resp=Response(HTTP_200=RuleList, HTTP_422=Problem, **ERRORS), tags=[TAG])
def list_rules(query: RuleQuery):
    """Rules that apply in the token's tenant (its own and global ones), newest first."""
    page = services.list_rules(g.bearer.tenant, user_id=query.user_id, effect=query.effect, module=query.module,
                               search=query.q, page=query.page, per_page=query.per_page)
    return page_body(page, [rule_json(r) for r in page.items])


@bp.post("/permissions/rules")
@api_auth(Scope.ADMIN, "permissions.manage")
@spec.validate(json=CreateRule, resp=Response(HTTP_201=RuleOut, HTTP_422=Problem, **ERRORS), tags=[TAG])
def create_rule(json: CreateRule):
    """Add an allow or deny rule for a member."""
    rule = services.create_rule(_actor(), g.bearer.tenant, user_id=json.user_id, effect=json.effect, target=json.target,
                                resource=json.resource, expires_at=json.expires_at, reason=json.reason,
                                scope=json.scope)
    return rule_json(rule), 201


@bp.delete("/permissions/rules/<id:rule_id>")
@api_auth(Scope.ADMIN, "permissions.manage")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=Problem, **ERRORS), tags=[TAG])
def delete_rule(rule_id: int):
    """Remove a rule (it stops applying on the next request everywhere)."""
    services.delete_rule(_actor(), g.bearer.tenant, rule_id)
    return "", 204


@bp.post("/permissions/check")
@api_auth(Scope.READ, "permissions.view")
@spec.validate(json=CheckIn, resp=Response(HTTP_200=CheckOut, HTTP_404=Problem, HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def check(json: CheckIn):
    """Would this member be allowed this action (on this resource) here, and why?"""
    members = {user.id: user for user, _m in services.members(g.bearer.tenant)}
    user = members.get(json.user_id)
    if user is None:
        raise NotFound()
    decision = services.explain(user, g.bearer.tenant, json.action, json.resource)
    return {"allowed": decision.allowed, "reason": decision.reason,
            "rule_id": decision.rule.id if decision.rule else None, "trace": list(decision.trace)}


