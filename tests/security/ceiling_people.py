"""Privilege-ceiling cases for people: sessions and members, through the pages and the API. An admin never acts on
someone ranking above them; each case also shows the same action on someone below works."""

from __future__ import annotations

from sqlalchemy import select

from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.services import start_session
from app.sessions.web import SESSION_ID_KEY  # noqa: F401 (the cookie key these sessions would carry)
from tests.security.ceiling import World, case
from tests.tokens.helpers import problem_of


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

# ---------------------------------------------------------------- the same through the API (admin-scope tokens)


def _user_url(user) -> str:
    return f"/api/v1/users/{user.id}"


@case("admin_ends_owner_session_api")
def _admin_ends_owner_session_api(w: World):
    owners, members = _session_of(w.owner), _session_of(w.member)
    _, secret = w.token(w.admin, "admin")
    problem_of(w.api("DELETE", f"/api/v1/sessions/{owners}", secret), 403, "outranked")
    assert not _ended(owners)
    assert w.api("DELETE", f"/api/v1/sessions/{members}", secret).status_code == 204
    assert _ended(members)


@case("admin_blocks_owner_api")
def _admin_blocks_owner_api(w: World):
    _, secret = w.token(w.admin, "admin")
    problem_of(w.api("PATCH", _user_url(w.owner), secret, {"status": "blocked"}), 403, "outranked")
    assert _membership(w, w.owner).blocked_at is None
    # asking for what already is does not get past the ceiling either
    problem_of(w.api("PATCH", _user_url(w.owner), secret, {"status": "active"}), 403, "outranked")
    assert w.api("PATCH", _user_url(w.member), secret, {"status": "blocked"}).status_code == 200
    assert _membership(w, w.member).blocked_at is not None


@case("admin_demotes_owner_api")
def _admin_demotes_owner_api(w: World):
    _, secret = w.token(w.admin, "admin")
    problem_of(w.api("PATCH", _user_url(w.owner), secret, {"role": "member"}), 403, "outranked")
    assert _membership(w, w.owner).role == "owner"
    assert w.api("PATCH", _user_url(w.member), secret, {"role": "manager"}).status_code == 200
    assert _membership(w, w.member).role == "manager"


@case("admin_makes_someone_owner_api")
def _admin_makes_someone_owner_api(w: World):
    _, secret = w.token(w.admin, "admin")
    body = problem_of(w.api("PATCH", _user_url(w.member), secret, {"role": "owner"}), 403, "beyond_your_rights")
    assert body["field"] == "role"
    assert _membership(w, w.member).role == "member"
    # one refused field undoes the whole request: the block asked for with it is not kept
    problem_of(w.api("PATCH", _user_url(w.member), secret, {"role": "owner", "status": "blocked"}), 403,
               "beyond_your_rights")
    assert _membership(w, w.member).blocked_at is None
    assert w.api("PATCH", _user_url(w.member), secret, {"role": "admin"}).status_code == 200
    assert _membership(w, w.member).role == "admin"


@case("last_owner_keeps_the_tenant_api")
def _last_owner_keeps_the_tenant_api(w: World):
    _, secret = w.token(w.owner, "admin")
    body = problem_of(w.api("PATCH", _user_url(w.owner), secret, {"role": "admin"}), 409, "conflict")
    assert "last owner" in body["detail"]
    problem_of(w.api("PATCH", _user_url(w.owner), secret, {"status": "blocked"}), 409, "conflict")
    assert _membership(w, w.owner).role == "owner" and _membership(w, w.owner).blocked_at is None
    assert w.api("PATCH", _user_url(w.admin), secret, {"role": "owner"}).status_code == 200
    assert w.api("PATCH", _user_url(w.owner), secret, {"role": "admin"}).status_code == 200
    assert _membership(w, w.owner).role == "admin"


@case("demoted_admin_token_is_refused_api")
def _demoted_admin_token_is_refused_api(w: World):
    # An admin-scope token outlives its owner's demotion to manager, but does nothing more than a manager may:
    # managers may not use the admin scope, so every member route of the API refuses it.
    _, secret = w.token(w.admin, "admin")
    _, owners = w.token(w.owner, "admin")
    assert w.api("PATCH", _user_url(w.admin), owners, {"role": "manager"}).status_code == 200
    problem_of(w.api("PATCH", _user_url(w.member), secret, {"status": "blocked"}), 403, "insufficient_scope")
    assert _membership(w, w.member).blocked_at is None
    assert w.api("PATCH", _user_url(w.member), owners, {"status": "blocked"}).status_code == 200


# ---------------------------------------------------------------- resetting a member's second factor


def _twofa_on(user) -> bool:
    from app.users.models import Profile

    db.session.expire_all()
    return db.session.scalar(select(Profile.twofa_enabled_at).where(Profile.user_id == user.id)) is not None


@case("admin_resets_owner_twofa_page")
def _admin_resets_owner_twofa_page(w: World):
    from tests.twofactor.helpers import enrolled

    enrolled(w.owner)
    enrolled(w.member)
    assert w.page(w.admin, w.url(f"users/{w.owner.id}/2fa/reset")).status_code == 403
    assert _twofa_on(w.owner)
    assert w.page(w.admin, w.url(f"users/{w.member.id}/2fa/reset")).status_code == 302
    assert not _twofa_on(w.member)


@case("admin_resets_owner_twofa_api")
def _admin_resets_owner_twofa_api(w: World):
    from tests.twofactor.helpers import enrolled

    enrolled(w.owner)
    enrolled(w.member)
    _, secret = w.token(w.admin, "admin")
    problem_of(w.api("POST", f"/api/v1/users/{w.owner.id}/2fa/reset", secret), 403, "outranked")
    assert _twofa_on(w.owner)
    assert w.api("POST", f"/api/v1/users/{w.member.id}/2fa/reset", secret).status_code == 204
    assert not _twofa_on(w.member)
