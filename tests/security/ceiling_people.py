"""Privilege-ceiling cases for people: sessions (and users, once their pages exist). An admin never acts on
someone ranking above them; each case also shows the same action on someone below works."""

from __future__ import annotations

from sqlalchemy import select

from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.services import start_session
from app.sessions.web import SESSION_ID_KEY  # noqa: F401 (the cookie key these sessions would carry)
from tests.security.ceiling import World, case


def _session_of(user) -> int:
    from datetime import timedelta

    from app.sessions.services import Lifetimes

    row, _raw = start_session(user, ip="192.0.2.1", user_agent="Firefox/130 Linux", now=utcnow(),
                              lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12)))
    db.session.commit()
    return row.id


def _ended(session_id: int) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(UserSession.ended_at).where(UserSession.id == session_id)) is not None


@case("admin_ends_owner_session_page")
def _admin_ends_owner_session_page(w: World):
    owners, members = _session_of(w.owner), _session_of(w.member)
    assert w.page(w.admin, w.url(f"sessions/{owners}/end")).status_code == 403
    assert not _ended(owners)
    assert w.page(w.admin, w.url(f"sessions/{members}/end")).status_code == 302
    assert _ended(members)


def _membership(w: World, user):
    from app.users.models import Membership

    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                      Membership.tenant_id == w.tenant.id)
                             .execution_options(include_deleted=True))


@case("admin_blocks_owner_page")
def _admin_blocks_owner_page(w: World):
    assert w.page(w.admin, w.url(f"users/{w.owner.id}/block")).status_code == 403
    assert _membership(w, w.owner).blocked_at is None
    assert w.page(w.admin, w.url(f"users/{w.member.id}/block")).status_code == 302
    assert _membership(w, w.member).blocked_at is not None


@case("admin_signs_out_owner_page")
def _admin_signs_out_owner_page(w: World):
    owners, members = _session_of(w.owner), _session_of(w.member)
    assert w.page(w.admin, w.url(f"users/{w.owner.id}/sign-out")).status_code == 403
    assert not _ended(owners)
    assert w.page(w.admin, w.url(f"users/{w.member.id}/sign-out")).status_code == 302
    assert _ended(members)


@case("admin_makes_someone_owner_page")
def _admin_makes_someone_owner_page(w: World):
    assert w.page(w.admin, w.url(f"users/{w.member.id}/role"), {"role": "owner"}).status_code == 403
    assert _membership(w, w.member).role == "member"
    assert w.page(w.admin, w.url(f"users/{w.member.id}/role"), {"role": "admin"}).status_code == 302
    assert _membership(w, w.member).role == "admin"


@case("admin_demotes_owner_page")
def _admin_demotes_owner_page(w: World):
    assert w.page(w.admin, w.url(f"users/{w.owner.id}/role"), {"role": "member"}).status_code == 403
    assert _membership(w, w.owner).role == "owner"


@case("last_owner_keeps_the_tenant_page")
def _last_owner_keeps_the_tenant_page(w: World):
    response = w.page(w.owner, w.url(f"users/{w.owner.id}/role"), {"role": "admin"})
    assert response.status_code == 409 and "last owner" in response.get_data(as_text=True)
    assert _membership(w, w.owner).role == "owner"
    assert w.page(w.owner, w.url(f"users/{w.admin.id}/role"), {"role": "owner"}).status_code == 302
    assert w.page(w.owner, w.url(f"users/{w.owner.id}/role"), {"role": "admin"}).status_code == 302


@case("admin_bulk_blocks_owner_page")
def _admin_bulk_blocks_owner_page(w: World):
    response = w.page(w.admin, w.url("users/bulk"), {"bulk_action": "block", "user_id": [w.owner.id, w.member.id]})
    assert response.status_code == 302
    assert _membership(w, w.owner).blocked_at is None and _membership(w, w.member).blocked_at is not None


@case("admin_sends_owner_reset_page")
def _admin_sends_owner_reset_page(w: World):
    from app.auth.models import PasswordReset

    assert w.page(w.admin, w.url(f"users/{w.owner.id}/reset-password")).status_code == 403
    assert db.session.scalar(select(PasswordReset.id).where(PasswordReset.user_id == w.owner.id)) is None
    assert w.page(w.admin, w.url(f"users/{w.member.id}/reset-password")).status_code == 302
    assert db.session.scalar(select(PasswordReset.id).where(PasswordReset.user_id == w.member.id)) is not None
