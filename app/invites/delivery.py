"""A new code on its way: issuing, resending or renewing an invite and, where it has an address, its email with the
join link. The services of the pages; the link is made by the caller (`link_of`), so nothing here reads the
request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.actor import Actor
from app.core.errors import ValidationFailed
from app.extensions import db
from app.invites.models import Invite
from app.invites.services import issue, renew, resend
from app.mail.services import queue_email
from app.tenants.models import Tenant
from app.users.models import User


def _mail_locale(invite: Invite) -> str:
    """The invitee's language when they have an account and chose one, else the tenant's."""
    user = db.session.scalar(select(User).where(User.email == invite.email)) if invite.email else None
    chosen = user.profile.locale if user is not None and user.profile is not None else None
    return chosen or invite.tenant.default_locale


def send_invite_email(actor: Actor, invite: Invite, link: str) -> None:
    """Queue the invite's email to its address with `link` (the join page with the code), in the invitee's
    language: it goes out after the request commits; the body is stored encrypted and no job argument carries
    it (app.mail.services)."""
    if invite.email is None:
        raise ValidationFailed(str(_l("Enter the address to send the invite to.")), field="email")
    queue_email(invite.email, "invite", locale=_mail_locale(invite), context={
        "inviter": actor.user.name or actor.user.email, "tenant": invite.tenant.name, "link": link,
        "role": invite.role.label, "expires_at": invite.expires_at, "hours": invite.ttl_hours})


@dataclass(frozen=True)
class NewCode:
    """A code just made (issued, resent, renewed) for a page to show once, and whether it was emailed."""

    invite: Invite
    code: str
    emailed: bool


def invite_person(actor: Actor, tenant: Tenant, *, link_of: Callable[[str], str], send_email: bool = False,
                  now: datetime, **fields) -> NewCode:
    """`issue` (a personal invite or a link: `fields` are issue's), then, when asked, its email with the link
    `link_of(code)` (a personal invite with an address only)."""
    if send_email and not fields.get("email"):
        raise ValidationFailed(str(_l("Enter the address to send the invite to.")), field="email")
    invite, code = issue(actor, tenant, now=now, **fields)
    if send_email:
        send_invite_email(actor, invite, link_of(code))
    return NewCode(invite, code, send_email)


def resend_invite(actor: Actor, tenant: Tenant, invite_id: int, *, link_of: Callable[[str], str],
                  now: datetime) -> NewCode:
    """`resend`, and the new link by email when the invite has an address."""
    invite, code = resend(actor, tenant, invite_id, now=now)
    if invite.email is not None:
        send_invite_email(actor, invite, link_of(code))
    return NewCode(invite, code, invite.email is not None)


def renew_invite(actor: Actor, tenant: Tenant, invite_id: int, *, link_of: Callable[[str], str],
                 now: datetime) -> NewCode:
    """`renew`, and the new link by email when the invite has an address."""
    invite, code = renew(actor, tenant, invite_id, now=now)
    if invite.email is not None:
        send_invite_email(actor, invite, link_of(code))
    return NewCode(invite, code, invite.email is not None)
