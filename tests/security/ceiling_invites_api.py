"""Privilege-ceiling cases for invites through the JSON API: a token never invites to a role above its owner's,
and nobody revokes or resends (receiving a fresh code of) an invite to a role above their own."""

from __future__ import annotations

from sqlalchemy import func, select

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus
from tests.security.ceiling import World, case
from tests.tokens.helpers import problem_of


def _invite(w: World, issuer, role: str) -> Invite:
    invite, _code = services.issue(Actor(issuer), w.tenant, role=role, now=utcnow())
    db.session.commit()
    return invite


def _fresh(invite_id: int) -> Invite:
    db.session.expire_all()
    return db.session.get(Invite, invite_id)


def _invites_to(role: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Invite).where(Invite.role == role))


@case("write_token_invites_above_owner_role_api")
def _write_token_invites_above_owner_role_api(w: World):
    _, write = w.token(w.admin, "write")
    body = problem_of(w.api("POST", "/api/v1/invites", write, {"role": "owner"}), 403, "beyond_your_rights")
    assert "hbx_i_" not in str(body) and _invites_to("owner") == 0
    assert w.api("POST", "/api/v1/invites", write, {"role": "admin"}).status_code == 201
    _, owners = w.token(w.owner, "write")
    assert w.api("POST", "/api/v1/invites", owners, {"role": "owner"}).status_code == 201


@case("admin_revokes_owner_invite_api")
def _admin_revokes_owner_invite_api(w: World):
    owners, members = _invite(w, w.owner, "owner"), _invite(w, w.owner, "member")
    _, write = w.token(w.admin, "write")
    problem_of(w.api("POST", f"/api/v1/invites/{owners.id}/revoke", write), 403, "beyond_your_rights")
    assert _fresh(owners.id).status == InviteStatus.PENDING
    assert w.api("POST", f"/api/v1/invites/{members.id}/revoke", write).status_code == 200
    assert _fresh(members.id).status == InviteStatus.REVOKED


@case("admin_resends_owner_invite_api")
def _admin_resends_owner_invite_api(w: World):
    owners, members = _invite(w, w.owner, "owner"), _invite(w, w.owner, "member")
    digest = owners.digest
    _, write = w.token(w.admin, "write")
    body = problem_of(w.api("POST", f"/api/v1/invites/{owners.id}/resend", write), 403, "beyond_your_rights")
    assert "hbx_i_" not in str(body) and _fresh(owners.id).digest == digest  # no fresh code for the admin to hand out
    response = w.api("POST", f"/api/v1/invites/{members.id}/resend", write)
    assert response.status_code == 201 and response.get_json()["code"].startswith("hbx_i_")
