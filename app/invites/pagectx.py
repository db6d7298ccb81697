"""What the invite pages render: the list's filters, the issue forms, the rows with what the viewer may do to
each, the joins waiting for approval; built from the request's tenant and viewer (the routes stay thin)."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user

from app.core.fields import valid_or_none
from app.core.inputs import parse_id, parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.invites import services
from app.invites.forms import ConfirmForm, LinkForm, PersonalInviteForm
from app.invites.links import join_url
from app.invites.models import Invite, InviteStatus, check_invite_kind, check_invite_role, check_invite_status
from app.permissions.ceiling import rank
from app.permissions.gate import can
from app.users.models import Role

PER_PAGE = 20
TEMPLATE = "invites/page.html"
CONFIRM = "invites/confirm.html"


# ---------------------------------------------------------------- parsing (anything odd is ignored)


def filters_of(source) -> dict:
    """The list's filters and page, from a query string; a value that is not a choice is ignored."""
    return {
        "q": parse_text(source.get("q")) or None,
        "status": valid_or_none(check_invite_status, source.get("status")),
        "inviter": parse_id(source.get("inviter")),
        "role": valid_or_none(check_invite_role, source.get("role")),
        "kind": valid_or_none(check_invite_kind, source.get("kind")),
        "page": parse_page(source.get("page")),
    }


def list_args(filters: dict) -> dict:
    """The filters worth keeping in a URL (the page's own, the pager's)."""
    return {k: v for k, v in filters.items() if v and k != "page"}


def list_url(**args) -> str:
    return url_for("invites.page", slug=state.tenant.slug, **args)


# ---------------------------------------------------------------- what the viewer may do


def grantable_roles() -> list[Role]:
    """The roles the viewer may invite to: at or below their own here (every role for a platform operator)."""
    if current_user.is_operator:
        return list(Role)
    own = rank(current_user.id, state.tenant.id)
    return [role for role in Role if role.rank <= own]


def _own_rank() -> int | None:
    """The viewer's rank here (None: a platform operator, above every role)."""
    return None if current_user.is_operator else rank(current_user.id, state.tenant.id)


def may_manage(invite: Invite, own: int | None = ...) -> bool:
    """The viewer may revoke, resend or renew `invite`: invites.revoke and a role at or above the invite's
    (`own`: the viewer's rank, when the caller has it already)."""
    if not can("invites.revoke"):
        return False
    own = _own_rank() if own is ... else own
    return own is None or invite.role.rank <= own


def shown_status(invite: Invite, now) -> str:
    """The status a person should read: a pending invite past its time is expired (the job marks it later)."""
    if invite.status == InviteStatus.PENDING and invite.expires_at <= now:
        return InviteStatus.EXPIRED.value
    return invite.status.value


def visible(invite_id: int) -> Invite:
    """An invite of this tenant, or 404."""
    return services.get_invite(state.tenant, invite_id)


# ---------------------------------------------------------------- the page's parts


def personal_form(**kwargs) -> PersonalInviteForm:
    return PersonalInviteForm(prefix="invite", roles=grantable_roles(), ttl_default=state.tenant.invite_ttl_hours,
                              ttl_max=state.tenant.invite_max_ttl_hours, **kwargs)


def link_form(**kwargs) -> LinkForm:
    return LinkForm(prefix="link", roles=grantable_roles(), ttl_default=state.tenant.invite_ttl_hours,
                    ttl_max=state.tenant.invite_max_ttl_hours, **kwargs)


def issue_ctx(personal: PersonalInviteForm | None = None, link: LinkForm | None = None, revealed=None,
              open_link: bool = False) -> dict:
    """The two issue forms (or a new code, once), and how many invites the viewer has left today."""
    now = utcnow()
    return {"personal": personal or personal_form(formdata=None), "link": link or link_form(formdata=None),
            "revealed": revealed, "join_url": join_url(revealed.code) if revealed else None,
            "left_today": services.remaining_today(state.tenant, current_user.id, now),
            "unlimited": current_user.is_operator, "can_create": can("invites.create"), "open_link": open_link,
            "daily_limit": state.tenant.invite_daily_limit}


def list_ctx(filters: dict) -> dict:
    """One page of invites with what the viewer may do to each."""
    now = utcnow()
    invites = services.list_invites(state.tenant, status=filters["status"], inviter_id=filters["inviter"],
                                    role=filters["role"], kind=filters["kind"], q=filters["q"],
                                    page=filters["page"], per_page=PER_PAGE, clamp=True)
    own = _own_rank()
    rows = [(invite, shown_status(invite, now), may_manage(invite, own)) for invite in invites.items]
    return {"invites": invites, "rows": rows, "args": list_args(filters), "now": now,
            "button": ConfirmForm(formdata=None)}


def waiting_ctx() -> dict:
    """The joins by a link that wait for an admin's approval (for those who may approve them)."""
    if not can("invites.revoke"):
        return {"waiting": [], "button": ConfirmForm(formdata=None)}
    own = _own_rank()
    return {"waiting": [(use, own is None or use.invite.role.rank <= own) for use in services.waiting(state.tenant)],
            "button": ConfirmForm(formdata=None)}


def page_ctx(filters: dict, **issue) -> dict:
    """The whole page."""
    return {**issue_ctx(**issue), **list_ctx(filters), **waiting_ctx(), "filters": filters,
            "inviters": services.inviters(state.tenant),
            "role_options": [(role.value, role.label) for role in Role]}
