"""JSON routes for permission rules and checks."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from pydantic import BaseModel, Field
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, StrictModel, document_hook, schema_property, spec
from app.api.auth import Scope, api_auth
from app.api.lists import ListOf, list_body
from app.core.fieldadapters import api_field
from app.core.fields import check_expiry, check_reason, reason_pattern
from app.core.request_state import state
from app.core.web import current_actor
from app.permissions import catalogue, services
from app.permissions.models import PermissionRule
from app.users import services as user_services

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
    resource: str | None = Field(None, min_length=1, max_length=100,
                                 description="`type:id`, e.g. `user:42`; null (or left out) for every resource")
    expires_at: Expiry | None = Field(None, strict=False, description="ISO 8601 with a time zone, in the future "
                                                                       "(years 2000 to 2999)")
    reason: Reason
    scope: str = Field("tenant", pattern="^(tenant|global)$")


class CheckIn(StrictModel):
    user_id: int = Field(ge=1, le=2**31 - 1)
    action: str = Field(min_length=3, max_length=65)
    resource: str | None = Field(None, min_length=1, max_length=100)


class CheckOut(BaseModel):
    allowed: bool
    reason: str
    rule_id: int | None
    trace: list[str]


@document_hook
def _catalogue_in_document(schemas: dict) -> None:
    """The catalogue and the resource types as the document's enum and pattern: what a client can read there is
    what the API accepts (the catalogue is complete only once every domain has declared its actions)."""
    actions = [action.key for action in catalogue.actions()]
    schema_property(schemas, "CreateRule", "target")["enum"] = [f"{m}.*" for m in catalogue.modules()] + actions
    schema_property(schemas, "CheckIn", "action")["enum"] = actions
    resource = f"^({'|'.join(services.resource_types())}):[A-Za-z0-9_-]{{1,64}}$"
    for model in ("CreateRule", "CheckIn"):
        schema_property(schemas, model, "resource")["pattern"] = resource


def rule_json(rule: PermissionRule) -> dict:
    return {"id": rule.id, "user_id": rule.user_id, "effect": rule.effect.value, "target": rule.target,
            "resource": rule.resource, "scope": "global" if rule.is_global else "tenant",
            "expires_at": rule.expires_at, "reason": rule.reason, "created_at": rule.created_at,
            "created_by_id": rule.created_by_id}


@bp.get("/permissions/rules")
@api_auth(Scope.READ, "permissions.view")
@spec.validate(query=RuleQuery, resp=Response(HTTP_200=ListOf[RuleOut], HTTP_422=Problem, **ERRORS), tags=[TAG])
def list_rules(query: RuleQuery):
    """Rules that apply in the token's tenant (its own and global ones), newest first."""
    page = services.list_rules(state.bearer.tenant, user_id=query.user_id, effect=query.effect, module=query.module,
                               search=query.q, page=query.page, per_page=query.per_page)
    return list_body(page, [rule_json(r) for r in page.items])


@bp.post("/permissions/rules")
@api_auth(Scope.ADMIN, "permissions.manage")
@spec.validate(json=CreateRule, resp=Response(HTTP_201=RuleOut, HTTP_404=Problem, HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def create_rule(json: CreateRule):
    """Add an allow or deny rule for a member (404 for someone who is not a member). Under the privilege
    ceiling: only on someone whose role ranks no higher than the caller's (403 `outranked`), and an allow only
    for what the caller may do themselves (403 `beyond_your_rights`)."""
    rule = services.create_rule(current_actor(), state.bearer.tenant, user_id=json.user_id, effect=json.effect,
                                target=json.target,
                                resource=json.resource, expires_at=json.expires_at, reason=json.reason,
                                scope=json.scope)
    return rule_json(rule), 201


@bp.delete("/permissions/rules/<id:rule_id>")
@api_auth(Scope.ADMIN, "permissions.manage")
@spec.validate(resp=Response(HTTP_204=None, HTTP_404=Problem, **ERRORS), tags=[TAG])
def delete_rule(rule_id: int):
    """Remove a rule (it stops applying on the next request everywhere). Global rules are for platform operators
    (404 to anyone else); removing a deny rule grants what it denied, so the same ceiling as adding applies."""
    services.delete_rule(current_actor(), state.bearer.tenant, rule_id)
    return "", 204


@bp.post("/permissions/check")
@api_auth(Scope.READ, "permissions.view")
@spec.validate(json=CheckIn, resp=Response(HTTP_200=CheckOut, HTTP_404=Problem, HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def check(json: CheckIn):
    """Would this member be allowed this action (on this resource) here, and why?"""
    user = user_services.member(state.bearer.tenant, json.user_id)
    decision = services.explain(user, state.bearer.tenant, json.action, json.resource)
    return {"allowed": decision.allowed, "reason": decision.reason,
            "rule_id": decision.rule.id if decision.rule else None, "trace": list(decision.trace)}


