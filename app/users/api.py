"""JSON routes for a tenant's members: the list (the page's search, filters and order), one member, and changing a
member's role or block here. The same services as the member pages (app.users.admin), under the same ceiling."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from spectree import Response

from app.api import AUTH_ERRORS, PageQuery, Problem, StrictModel, spec
from app.api.auth import Scope, api_auth
from app.api.lists import ListOf, list_body
from app.core.fieldadapters import api_field
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.web import current_actor
from app.users.admin import (
    BlockStatus,
    MemberQuery,
    MemberState,
    Sort,
    TwoFactor,
    check_block_status,
    member,
    member_list,
    member_state,
    update_member,
)
from app.users.models import Membership, Profile, Role, User, UserStatus, check_role

bp = Blueprint("users_api", __name__, url_prefix="/api/v1")
TAG = "users"
ERRORS = AUTH_ERRORS
STATES = [*(s.value for s in MemberState), "inactive"]

# The fields' own checks, the same the member pages and the bulk form run.
RoleName = api_field(check_role, enum=list(check_role.choices))
StatusName = api_field(check_block_status, enum=list(check_block_status.choices))


class MemberOut(BaseModel):
    id: int
    email: str
    name: str
    role: str = Field(json_schema_extra={"enum": list(check_role.choices)})
    state: str = Field(json_schema_extra={"enum": STATES},
                       description="The first that applies: `removed`, `blocked` (here or everywhere), `locked`, "
                                   "`active`; `inactive` for an account that may not sign in for another reason")
    blocked_here: bool = Field(description="This tenant's admins blocked the membership (`status` in PATCH)")
    account_status: str = Field(json_schema_extra={"enum": [s.value for s in UserStatus]},
                                description="The account's status on the whole platform (`blocked` there is for "
                                            "platform operators)")
    locked_until: datetime | None = Field(description="Sign-in refused until then (too many failures)")
    last_sign_in_at: datetime | None
    joined_at: datetime
    twofa_enabled_at: datetime | None = Field(description="Since when the member uses a second factor (an "
                                                          "authenticator app); null: they do not")


class MemberListQuery(PageQuery):
    q: str | None = Field(None, max_length=100, description="In the email address or the name")
    state: MemberState | None = None
    role: RoleName | None = None
    twofa: TwoFactor | None = Field(None, description="Two-step sign-in: `on`, `off`, or `missing` (off, on a "
                                                      "membership not blocked here whose role the tenant requires "
                                                      "it of)")
    sort: Sort = Sort.EMAIL


class UpdateMember(StrictModel):
    """One field or both; a field left out stays as it is, and asking for what already is changes nothing."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    # Neither is nullable: leave a field out to keep it. A field's default is not validated, so left out is None.
    role: RoleName = Field(None, description="Never above the caller's own (403 `beyond_your_rights`); the last "
                                             "owner keeps the role (409 `conflict`)")
    status: StatusName = Field(None, description="`blocked`: blocked in this tenant (its sessions here end, its "
                                                 "tokens here stop); `active`: not blocked here")

    @model_validator(mode="after")
    def _something_to_change(self):
        if not self.model_fields_set:
            raise PydanticCustomError("nothing_to_change", str(_l("Send a role, a status or both.")))
        return self


def member_json(user: User, membership: Membership, profile: Profile, now: datetime) -> dict:
    """A member as the API shows them."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": membership.role.value,
            "state": member_state(membership, profile, now), "blocked_here": membership.blocked_at is not None,
            "account_status": profile.status.value, "locked_until": profile.locked_until,
            "last_sign_in_at": profile.last_login_at, "joined_at": membership.created_at,
            "twofa_enabled_at": profile.twofa_enabled_at}


@bp.get("/users")
@api_auth(Scope.ADMIN, "users.view")
@spec.validate(query=MemberListQuery, resp=Response(HTTP_200=ListOf[MemberOut], HTTP_422=Problem, **ERRORS),
               tags=[TAG])
def list_users(query: MemberListQuery):
    """The tenant's members, with the member page's search, state, role and two-step sign-in filters and orders
    (removed members only with `state=removed`)."""
    now = utcnow()
    chosen = MemberQuery(q=query.q or None, state=query.state, role=Role(query.role) if query.role else None,
                         twofa=query.twofa, sort=query.sort)
    page = member_list(state.bearer.tenant, chosen, now=now, page=query.page, per_page=query.per_page, clamp=False)
    return list_body(page, [member_json(user, membership, profile, now) for user, membership, profile in page.items])


@bp.get("/users/<id:user_id>")
@api_auth(Scope.ADMIN, "users.view")
@spec.validate(resp=Response(HTTP_200=MemberOut, HTTP_404=Problem, **ERRORS), tags=[TAG])
def show_user(user_id: int):
    """One member of the tenant (a removed one too); 404 for anyone else."""
    user, membership = member(state.bearer.tenant, user_id)
    return member_json(user, membership, user.profile, utcnow())


@bp.patch("/users/<id:user_id>")
@api_auth(Scope.ADMIN, "users.manage")
@spec.validate(json=UpdateMember, resp=Response(HTTP_200=MemberOut, HTTP_404=Problem, HTTP_409=Problem,
                                               HTTP_422=Problem, **ERRORS), tags=[TAG])
def update_user(user_id: int, json: UpdateMember):
    """Change a member's role, block them here or lift the block, as the member pages do. Under the privilege
    ceiling: nobody whose role ranks above the caller's (403 `outranked`), no role above the caller's own
    (403 `beyond_your_rights`); never the last owner's role or block (409 `conflict`), never one's own block."""
    now = utcnow()
    user, membership = update_member(current_actor(), state.bearer.tenant, user_id,
                                     role=Role(json.role) if json.role else None,
                                     status=BlockStatus(json.status) if json.status else None, now=now)
    return member_json(user, membership, user.profile, now)
