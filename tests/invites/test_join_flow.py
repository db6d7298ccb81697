"""The join flow through the real pages: /join/<code> changes nothing and moves the code out of the URL; one neutral
answer for every invalid code; a new person joins (account, membership, signed in); an existing user signs in
first; the refusals a holder of a valid code is told apart; links by domain and with approval; enrollment when the
role requires a second factor; the stage gate; rate limits; the code never in logs, flashes, bodies or audit."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import codes, services
from app.invites.models import Invite, InviteStatus, InviteUse
from app.sessions.models import SessionStage, UserSession
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User
from tests.conftest import PASSWORD, Auth
from tests.invites.helpers import actor
from tests.tokens.helpers import recorded_sql
from tests.twofactor.helpers import enrolled

NEUTRAL = "This invite is not valid. It may have expired or been used; ask for a new one."


@pytest.fixture
def admin(member_of, create_tenant):
    return member_of(Role.ADMIN, tenant=create_tenant(name="Acme Labs"))


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):
    monkeypatch.setattr("app.users.models.PASSWORD_METHOD", "pbkdf2:sha256:1")


def _issue(admin, now=None, **kwargs):
    user, tenant = admin
    kwargs.setdefault("role", Role.MEMBER)
    invite, code = services.issue(actor(user), tenant, now=now or utcnow(), **kwargs)
    db.session.commit()
    return invite, code


def _invite(invite_id: int) -> Invite:
    db.session.expire_all()
    return db.session.scalar(select(Invite).where(Invite.id == invite_id).execution_options(all_tenants=True))


def _membership(tenant_id: int, user_id: int) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant_id,
                                                      Membership.user_id == user_id)
                             .execution_options(all_tenants=True))


def _open(client, code):
    """Open the link and follow it to the code-free page."""
    first = client.get(f"/join/{code}")
    assert first.status_code == 303 and first.headers["Location"] == "/join/continue"
    return client.get("/join/continue")


def _sealed(response) -> str:
    """What a response's join cookie holds, decrypted."""
    value = re.search(r"hubx_join=([^;]*);", response.headers["Set-Cookie"]).group(1)
    return crypto().fernet.decrypt(value.encode()).decode()


def _sign_up(client, code, email="newcomer@example.com", **fields):
    _open(client, code)
    data = {"name": "New Comer", "email": email, "password": PASSWORD, "confirm": PASSWORD, **fields}
    return client.post("/join/signup", data)


def _neutral_text(response) -> str:
    body = response.get_data(as_text=True)
    match = re.search(r'id="join-invalid"[^>]*><p>([^<]*)</p>', body) or re.search(
        r'data-error-summary autofocus>\s*<div>([^<]*)</div>', body)
    assert match, body[:2000]
    return match.group(1).strip()


# ---------------------------------------------------------------- opening the link


def test_opening_the_link_changes_nothing_and_the_code_leaves_the_address(admin, client):
    invite, code = _issue(admin)
    before = (invite.status, invite.uses, invite.updated_at)
    first = client.get(f"/join/{code}")
    assert first.status_code == 303
    assert first.headers["Location"] == "/join/continue" and code not in first.headers["Location"]
    assert first.headers["Referrer-Policy"] == "no-referrer"  # the next request carries no Referer with the code
    assert first.headers["Cache-Control"] == "no-store"
    assert code not in first.headers["Set-Cookie"]  # kept encrypted
    assert "HttpOnly" in first.headers["Set-Cookie"] and "Path=/join" in first.headers["Set-Cookie"]
    page = client.get("/join/continue")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Join Acme Labs" in body and "member" in body and code not in body
    assert "new here" in body and re.search(r'href="/auth/login\?next=(/|%2F)join(/|%2F)continue"', body)
    client.get(f"/join/{code}")  # opened again (a scanner, a preview, the person)
    row = _invite(invite.id)
    assert (row.status, row.uses, row.updated_at) == before
    assert db.session.scalar(select(InviteUse.id)) is None


def test_the_code_page_continues_like_the_link(admin, client):
    _invite_row, code = _issue(admin)
    assert client.get("/join").status_code == 200
    response = client.post("/join", {"code": f"  {code} "})
    assert response.status_code == 303 and response.headers["Location"] == "/join/continue"
    assert "Join Acme Labs" in client.get("/join/continue").get_data(as_text=True)


def test_the_continue_page_without_a_code_asks_for_one(client):
    response = client.get("/join/continue")
    assert response.status_code == 303 and response.headers["Location"] == "/join"
    assert client.post("/join/signup", {}).headers["Location"] == "/join"
    assert client.post("/join/accept", {}).headers["Location"] == "/join"


def _invalid_codes(admin, create_user) -> dict[str, str]:
    _, code = _issue(admin)
    _, expired = _issue(admin, now=utcnow() - timedelta(hours=80))
    revoked_invite, revoked = _issue(admin)
    services.revoke(actor(admin[0]), admin[1], revoked_invite.id, now=utcnow())
    _, used = _issue(admin)
    services.accept(used, create_user(), utcnow())
    db.session.commit()
    return {"malformed": "hello", "mistyped": code[:-1] + ("A" if code[-1] != "A" else "B"),
            "unknown": codes.new_code()[0], "expired": expired, "revoked": revoked, "used": used}


def test_every_invalid_code_gets_one_neutral_answer(admin, client, create_user):
    answers = set()
    for kind, code in _invalid_codes(admin, create_user).items():
        page = _open(client, code)
        answers.add(("link", page.status_code, _neutral_text(page)))
        typed = client.post("/join", {"code": code})
        answers.add(("typed", typed.status_code, _neutral_text(typed)))
        assert code not in page.get_data(as_text=True), kind
    assert answers == {("link", 404, NEUTRAL), ("typed", 404, NEUTRAL)}


def test_a_mistyped_code_costs_no_query_of_the_invites(admin, client):
    _, code = _issue(admin)
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    client.get("/join")
    with recorded_sql() as seen:  # the ORM's statements and the link's direct read
        assert client.post("/join", {"code": typo}).status_code == 404
        assert client.get(f"/join/{typo}").status_code == 303
        assert client.get("/join/continue").status_code == 404
    assert not [s for s in seen if re.search(r"\binvite\b", s)]


def test_the_link_checks_the_code_once_and_drops_an_unusable_one(admin, client, create_user):
    """The link's request reads the invite (one statement); a usable code is kept for the continue page, which
    reads it again (it may be reloaded long after); an unusable one is not kept, and the continue page answers
    neutrally without a read."""
    _, code = _issue(admin)
    for kind, dead in _invalid_codes(admin, create_user).items():
        if kind in {"malformed", "mistyped"}:
            continue
        with recorded_sql() as link_reads:
            first = client.get(f"/join/{dead}")
        assert first.status_code == 303 and first.headers["Location"] == "/join/continue", kind
        assert len([s for s in link_reads if re.search(r"\binvite\b", s)]) == 1, kind
        with recorded_sql() as page_reads:
            page = client.get("/join/continue")
        assert page.status_code == 404 and _neutral_text(page) == NEUTRAL, kind
        assert not [s for s in page_reads if re.search(r"\binvite\b", s)], kind
    with recorded_sql() as link_reads:
        kept = client.get(f"/join/{code}")
    assert len([s for s in link_reads if re.search(r"\binvite\b", s)]) == 1
    dropped = client.get(f"/join/{codes.new_code()[0]}")
    assert _sealed(kept) == code and _sealed(dropped) == ""  # an unusable code is not kept, even encrypted
    client.get(f"/join/{code}")
    assert "Join Acme Labs" in client.get("/join/continue").get_data(as_text=True)


# ---------------------------------------------------------------- a new person


def test_a_new_person_joins_and_is_signed_in(admin, client):
    invite, code = _issue(admin)
    tenant = admin[1]
    response = _sign_up(client, code)
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{tenant.slug}/"
    assert "hubx_join=;" in response.headers["Set-Cookie"]  # the code is forgotten
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert user is not None and user.name == "New Comer"
    membership = _membership(tenant.id, user.id)
    assert membership is not None and membership.role == Role.MEMBER and membership.blocked_at is None
    row = _invite(invite.id)
    assert (row.status, row.uses) == (InviteStatus.ACCEPTED, 1)
    dashboard = client.get(f"/t/{tenant.slug}/")
    assert dashboard.status_code == 200
    assert "You joined Acme Labs as member. Welcome!" in dashboard.get_data(as_text=True)
    assert db.session.scalar(select(UserSession.stage).where(UserSession.user_id == user.id)) is None
    actions = set(db.session.scalars(select(AuditEvent.action).execution_options(all_tenants=True)))
    assert {"invite.accepted", "membership.created"} <= actions


def test_the_new_person_keeps_the_language_they_signed_up_in(admin, client):
    _, code = _issue(admin)
    client.raw.set_cookie("hubx_locale", "pt_BR")
    _sign_up(client, code)
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert user.profile.locale == "pt_BR"


def test_the_sign_up_form_shows_every_error_at_once_and_creates_nothing(admin, client):
    invite, code = _issue(admin)
    response = _sign_up(client, code, name="", email="not an email", password="short", confirm="other")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Some fields need attention." in body
    for field in ("name", "email", "password", "confirm"):
        assert f'href="#{field}"' in body, field
    assert db.session.scalar(select(User).where(User.email == "not an email")) is None
    assert _invite(invite.id).uses == 0


def test_an_invite_for_an_address_gives_the_account_that_address(admin, client):
    _, code = _issue(admin, email="Invited@Example.com")
    page = _open(client, code)
    assert re.search(r'<input[^>]*id="email"[^>]*readonly', page.get_data(as_text=True)) or \
        re.search(r'<input[^>]*readonly[^>]*id="email"', page.get_data(as_text=True))
    response = _sign_up(client, code, email="someone.else@example.com")
    assert response.status_code == 303
    assert db.session.scalar(select(User.id).where(User.email == "invited@example.com")) is not None
    assert db.session.scalar(select(User.id).where(User.email == "someone.else@example.com")) is None


def test_an_address_with_an_account_is_asked_to_sign_in(admin, client, create_user):
    invite, code = _issue(admin)
    create_user("taken@example.com")
    response = _sign_up(client, code, email="taken@example.com")
    assert response.status_code == 409
    assert "Sign in with it to accept the invite." in response.get_data(as_text=True)
    assert _invite(invite.id).uses == 0


def test_a_double_submit_creates_one_account(admin, client):
    _, code = _issue(admin)
    _open(client, code)
    sealed = client.raw.get_cookie("hubx_join", path="/join").value
    anonymous = client.raw.get_cookie("hubx_session").value
    data = {"name": "Twice", "email": "twice@example.com", "password": PASSWORD, "confirm": PASSWORD,
            "form_nonce": client.nonce()}
    assert client.post("/join/signup", data).status_code == 303
    # the second click left before the first answer came back: the same cookies, the same form
    client.raw.set_cookie("hubx_join", sealed, path="/join")
    client.raw.set_cookie("hubx_session", anonymous)
    again = client.post("/join/signup", data)
    assert again.status_code == 409 and "already sent" in again.get_data(as_text=True)
    assert len(db.session.scalars(select(User).where(User.email == "twice@example.com")).all()) == 1


# ---------------------------------------------------------------- a person with an account


def test_an_existing_user_signs_in_then_joins(admin, client, create_user):
    invite, code = _issue(admin)
    user = create_user("known@example.com")
    _open(client, code)
    client.csrf = None
    signed = client.post("/auth/login?next=/join/continue", {"email": user.email, "password": PASSWORD})
    assert signed.status_code == 302 and signed.headers["Location"] == "/join/continue"
    client.csrf = None
    page = client.get("/join/continue")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Join Acme Labs as member" in body and "new here" not in body
    joined = client.post("/join/accept")
    assert joined.status_code == 303 and joined.headers["Location"] == f"/t/{admin[1].slug}/"
    assert _membership(admin[1].id, user.id).role == Role.MEMBER
    assert _invite(invite.id).status == InviteStatus.ACCEPTED


def test_a_half_signed_in_session_does_not_reach_the_join_pages(admin, client, auth, create_user):
    _, code = _issue(admin)
    user = create_user("twostep@example.com")
    enrolled(user)
    auth.login(user)  # the second step is pending
    for method, url in (("get", f"/join/{code}"), ("get", "/join/continue"), ("get", "/join"),
                        ("post", "/join/accept"), ("post", "/join/signup"), ("post", "/join")):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/2fa"), url
    assert _membership(admin[1].id, user.id) is None


def _signed_in_with_code(client, auth, user, code):
    auth.login(user)
    _open(client, code)


def test_a_member_already_is_told_so(admin, client, auth, create_user):
    invite, code = _issue(admin)
    member = create_user(tenant=admin[1])
    _signed_in_with_code(client, auth, member, code)
    response = client.post("/join/accept")
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "You are already a member of this organization." in body
    assert 'id="join-ways-on"' in body
    assert _invite(invite.id).uses == 0


def test_an_invite_for_another_address_is_told_so(admin, client, auth, create_user):
    invite, code = _issue(admin, email="right@example.com")
    _signed_in_with_code(client, auth, create_user("wrong@example.com"), code)
    response = client.post("/join/accept")
    assert response.status_code == 403
    assert "This invite was sent to another email address." in response.get_data(as_text=True)
    assert _invite(invite.id).uses == 0


def test_a_domain_link_admits_only_its_domain(admin, client, auth, make_client, create_user):
    invite, code = _issue(admin, kind="link", max_uses=5, email_domain="example.org")
    _signed_in_with_code(client, auth, create_user("outsider@example.com"), code)
    refused = client.post("/join/accept")
    assert refused.status_code == 403
    assert "only for email addresses at example.org" in refused.get_data(as_text=True)
    other = make_client()
    assert _sign_up(other, code, email="insider@example.org").status_code == 303
    assert _invite(invite.id).uses == 1


def test_a_link_used_already_by_you_is_told_so(admin, client, auth, create_user):
    _, code = _issue(admin, kind="link", max_uses=5, needs_approval=True)
    user = create_user("again@example.com")
    _signed_in_with_code(client, auth, user, code)
    assert client.post("/join/accept").status_code == 303
    _open(client, code)
    again = client.post("/join/accept")
    assert again.status_code == 409 and "You have already used this link." in again.get_data(as_text=True)


def test_a_link_held_for_approval_says_so_and_grants_nothing_yet(admin, client):
    invite, code = _issue(admin, kind="link", max_uses=5, needs_approval=True)
    assert "An admin approves each person" in _open(client, code).get_data(as_text=True)
    client.get("/join")  # a fresh CSRF token for the form
    response = _sign_up(client, code, email="waiting@example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    user = db.session.scalar(select(User).where(User.email == "waiting@example.com"))
    assert _membership(admin[1].id, user.id) is None
    use = db.session.scalar(select(InviteUse).execution_options(all_tenants=True))
    assert use.user_id == user.id and use.approved_at is None
    landing = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "waits for an admin&#39;s approval" in landing


# ---------------------------------------------------------------- a required second factor


def _require_2fa(tenant_id: int, roles: str = "member") -> None:
    tenant = db.session.get(Tenant, tenant_id)
    tenant.twofa_required_roles = roles
    db.session.commit()


def test_a_new_person_in_a_role_that_requires_2fa_enrolls_first(admin, client):
    _, code = _issue(admin)
    _require_2fa(admin[1].id)
    response = _sign_up(client, code)
    assert response.status_code == 303 and response.headers["Location"] == "/account/security"
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert _membership(admin[1].id, user.id) is not None
    assert db.session.scalar(select(UserSession.stage).where(UserSession.user_id == user.id)) == SessionStage.ENROLL
    assert client.get(f"/t/{admin[1].slug}/").headers["Location"].endswith("/account/security")


def test_a_signed_in_person_joining_a_role_that_requires_2fa_enrolls_first(admin, client, auth, create_user):
    _, code = _issue(admin)
    _require_2fa(admin[1].id)
    user = create_user("plain@example.com")
    _signed_in_with_code(client, auth, user, code)
    response = client.post("/join/accept")
    assert response.status_code == 303 and response.headers["Location"] == "/account/security"
    db.session.expire_all()
    assert db.session.scalar(select(UserSession.stage).where(UserSession.user_id == user.id)) == SessionStage.ENROLL


# ---------------------------------------------------------------- limits and secrets


@pytest.mark.config(JOIN_RATE_LIMIT="3 per minute")
def test_attempts_are_rate_limited_per_address(admin, client):
    _, code = _issue(admin)
    client.get("/join")
    for n in range(2):
        assert client.post("/join", {"code": f"hbx_i_wrong{n}"}).status_code == 404
    assert client.get(f"/join/{code}").status_code == 303  # links and typed codes share one budget
    refused = client.post("/join", {"code": code})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert client.get(f"/join/{code}").status_code == 429


def test_the_code_is_never_logged_flashed_shown_or_audited(admin, client, caplog):
    caplog.set_level(logging.DEBUG)
    _, code = _issue(admin)
    responses = [client.get(f"/join/{code}"), client.get("/join/continue"), client.post("/join", {"code": code})]
    signup = client.post("/join/signup", {"name": "Quiet", "email": "quiet@example.com", "password": PASSWORD,
                                          "confirm": PASSWORD})
    responses += [signup, client.get(signup.headers["Location"])]
    for response in responses:
        assert code not in response.get_data(as_text=True)
        assert all(code not in value for _name, value in response.headers.items())
    assert code not in caplog.text
    details = db.session.scalars(select(AuditEvent.details).execution_options(all_tenants=True)).all()
    assert details and all(code not in str(d) for d in details)
    with client.session_transaction() as flask_session:
        assert code not in str(dict(flask_session))


def test_a_signed_in_person_who_cannot_join_is_told_before_pressing(admin, client, auth, make_client, create_user):
    """Another address, a member already, a link used by them already: the page says so, and offers no button."""
    personal, personal_code = _issue(admin, email="right@example.com")
    _signed_in_with_code(client, auth, create_user("wrong@example.com"), personal_code)
    page = client.get("/join/continue").get_data(as_text=True)
    assert 'id="join-refusal"' in page and "This invite was sent to another email address." in page
    assert 'id="join-button"' not in page and 'id="join-ways-on"' in page

    link, link_code = _issue(admin, kind="link", max_uses=5)
    member = make_client()
    _signed_in_with_code(member, Auth(member), create_user(tenant=admin[1]), link_code)
    page = member.get("/join/continue").get_data(as_text=True)
    assert "You are already a member of this organization." in page and 'id="join-button"' not in page

    joiner, browser = create_user("joiner@example.com"), make_client()
    _signed_in_with_code(browser, Auth(browser), joiner, link_code)
    assert 'id="join-button"' in browser.get("/join/continue").get_data(as_text=True)
    assert browser.post("/join/accept").status_code == 303
    db.session.execute(update(Membership).where(Membership.user_id == joiner.id).values(deleted_at=utcnow()))
    db.session.commit()  # removed since: the link, used by them once, is not for a second join
    _open(browser, link_code)
    page = browser.get("/join/continue").get_data(as_text=True)
    assert "You have already used this link." in page and 'id="join-button"' not in page
    assert (_invite(personal.id).uses, _invite(link.id).uses) == (0, 1)
