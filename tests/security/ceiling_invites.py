"""Privilege-ceiling cases for invites, through the pages: an admin never invites to a role above their own, and
never revokes, resends, renews or approves what grants a role above their own; each case also shows the same
action within the ceiling works."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus, InviteUse
from app.users.models import Membership, Role
from app.users.services import create_user
from tests.security.ceiling import World, case


def _invite(w: World, role: str, **fields) -> tuple[int, str]:
    invite, code = services.issue(Actor(w.owner), w.tenant, role=role, now=utcnow(), **fields)
    db.session.commit()
    return invite.id, code


def _status(invite_id: int) -> InviteStatus:
    db.session.expire_all()
    return db.session.get(Invite, invite_id).status


def _count(role: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Invite.id)).where(Invite.role == Role(role)))


@case("admin_invites_an_owner_page")
def _admin_invites_an_owner_page(w: World):
    url = w.url("invites")
    assert w.page(w.admin, url, {"invite-role": "owner", "invite-ttl_hours": "24"}).status_code == 403
    assert _count("owner") == 0
    assert w.page(w.admin, url, {"invite-role": "admin", "invite-ttl_hours": "24"}).status_code == 303
    assert _count("admin") == 1


@case("admin_links_to_owner_page")
def _admin_links_to_owner_page(w: World):
    url = w.url("invites/links")
    assert w.page(w.admin, url, {"link-role": "owner", "link-max_uses": "3", "link-ttl_hours": "24"}).status_code == 403
    assert _count("owner") == 0
    assert w.page(w.admin, url, {"link-role": "manager", "link-max_uses": "3"}).status_code == 303
    assert _count("manager") == 1


@case("admin_revokes_owner_invite_page")
def _admin_revokes_owner_invite_page(w: World):
    owners, _ = _invite(w, "owner")
    members, _ = _invite(w, "member")
    assert w.page(w.admin, w.url(f"invites/{owners}/revoke")).status_code == 403
    assert _status(owners) == InviteStatus.PENDING
    assert w.page(w.admin, w.url(f"invites/{members}/revoke")).status_code == 302
    assert _status(members) == InviteStatus.REVOKED


@case("admin_resends_owner_invite_page")
def _admin_resends_owner_invite_page(w: World):
    owners, code = _invite(w, "owner")
    members, _ = _invite(w, "member")
    assert w.page(w.admin, w.url(f"invites/{owners}/resend")).status_code == 403
    db.session.expire_all()
    assert services.validate(code, utcnow()).id == owners  # the owner's code still works: no new one was made
    assert w.page(w.admin, w.url(f"invites/{members}/resend")).status_code == 303


@case("admin_renews_owner_invite_page")
def _admin_renews_owner_invite_page(w: World):
    owners, _ = _invite(w, "owner")
    members, _ = _invite(w, "member")
    for invite_id in (owners, members):
        db.session.get(Invite, invite_id).expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert w.page(w.admin, w.url(f"invites/{owners}/renew")).status_code == 403
    db.session.expire_all()
    assert db.session.get(Invite, owners).expires_at < utcnow()
    assert w.page(w.admin, w.url(f"invites/{members}/renew")).status_code == 303
    db.session.expire_all()
    assert db.session.get(Invite, members).expires_at > utcnow()


@case("admin_approves_owner_join_page")
def _admin_approves_owner_join_page(w: World):
    uses = {}
    for role in ("owner", "member"):
        _, code = _invite(w, role, kind="link", max_uses=2, needs_approval=True)
        joiner = create_user(f"joiner-{role}@example.com", "a long enough password 1")
        services.accept(code, joiner, utcnow())
        db.session.commit()
        uses[role] = (db.session.scalar(select(InviteUse.id).where(InviteUse.user_id == joiner.id)), joiner.id)
    assert w.page(w.admin, w.url(f"invites/joins/{uses['owner'][0]}/approve")).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(select(Membership).where(Membership.user_id == uses["owner"][1])) is None
    assert w.page(w.admin, w.url(f"invites/joins/{uses['member'][0]}/approve")).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Membership).where(Membership.user_id == uses["member"][1])).role == Role.MEMBER
