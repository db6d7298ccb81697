"""Joining by an invite: what the join pages call. A person who already has an account joins with
`services.accept`; a new person gets an account and the membership in one transaction here (`sign_up`), so a
refused join (another email, another domain, a code used meanwhile) leaves no account behind.

Plain functions with explicit arguments: they never commit and never read the request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.errors import Conflict, DomainError
from app.extensions import db
from app.invites.models import Invite, InviteUse
from app.invites.services import AlreadyJoined, InviteInvalid, accept, check_may_join, validate
from app.tenants.models import Tenant
from app.users.models import Membership, User
from app.users.services import by_email, create_user, set_preferred_locale


class AccountExists(Conflict):
    code = "account_exists"
    title = _l("An account with this email exists already. Sign in with it to accept the invite.")


@dataclass(frozen=True)
class Joined:
    """Who joined where: the membership, or None while a link's join waits for an admin's approval."""

    user: User
    tenant: Tenant
    membership: Membership | None


def usable_invite(raw_code, now: datetime) -> Invite:
    """The invite a code names while it can be accepted; else the one neutral `InviteInvalid` (a malformed code
    costs no query). Changes nothing."""
    invite = validate(raw_code, now)
    if invite is None:
        raise InviteInvalid()
    return invite


def refusal_for(invite: Invite, user: User) -> str | None:
    """Why `user` could not join by this usable invite (another email or domain, a member already, this link used
    by them already), told before they press the button; None when they can."""
    try:
        check_may_join(invite, user)
    except DomainError as refused:
        return refused.detail or str(refused.title)
    used = db.session.scalar(select(InviteUse.id).where(InviteUse.invite_id == invite.id, InviteUse.user_id == user.id)
                             .execution_options(all_tenants=True, include_deleted=True))
    return str(AlreadyJoined.title) if used is not None else None


def join_as(raw_code, user: User, *, now: datetime, meta: dict | None = None) -> Joined:
    """`user` (signed in) joins by `raw_code`: `services.accept`'s refusals, told apart where the person holds a
    valid code (another email, another domain, a member already, this link used already)."""
    invite = usable_invite(raw_code, now)
    return Joined(user, invite.tenant, accept(raw_code, user, now, meta=meta))


def sign_up(raw_code, *, email: str, name: str, password: str, locale: str | None, now: datetime,
            meta: dict | None = None) -> Joined:
    """A new person's account (name, email, password: the users domain's checks) and their join by `raw_code`:
    returns who joined where (the membership None while a link's join waits for an admin's approval).

    An invite that names an address gives the account that address, whatever was typed. The refusals are
    `accept`'s (the neutral `InviteInvalid`, another email, another domain) and `AccountExists`; the caller's
    transaction rolls back on any of them, the new account included."""
    invite = usable_invite(raw_code, now)
    if invite.email is not None:
        email = invite.email
    if by_email(email) is not None:
        raise AccountExists(field="email")
    try:
        user = create_user(email, password, name=name)
    except (Conflict, IntegrityError) as exc:  # a soft-deleted account's, or taken meanwhile (another tab)
        raise AccountExists(field="email") from exc
    if locale:
        set_preferred_locale(user, locale)  # the language the person signed up in: every page speaks it
    return Joined(user, invite.tenant, accept(raw_code, user, now, meta=meta))
