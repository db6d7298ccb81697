"""The tenant's invite pages: issuing a personal invite and a shareable link with the one-time reveal, the
email, refusals (daily limit, role ceiling, every field at once), the list's filters, search and pages, revoke,
resend, renew, the joins waiting for approval."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus, InviteUse
from app.mail.models import EmailMessage
from app.users.models import Membership, Role
from tests.invites.helpers import actor

CODE = re.compile(r"hbx_i_[0-9A-Za-z]{36}")
LINK = re.compile(r'id="invite-link"[^>]*>([^<]+)</textarea>')


@pytest.fixture
def admin(member_of):
    user, tenant = member_of(Role.ADMIN)
    return user, tenant


def _url(tenant, tail: str = "") -> str:
    return f"/t/{tenant.slug}/invites{tail}"


def _invites() -> list[Invite]:
    db.session.expire_all()
    return list(db.session.scalars(select(Invite).order_by(Invite.id).execution_options(all_tenants=True)))


def _personal(**changes) -> dict:
    data = {"invite-email": "new.person@example.com", "invite-role": "member", "invite-ttl_hours": "48"}
    data.update(changes)
    return data


def _link(**changes) -> dict:
    data = {"link-role": "member", "link-max_uses": "3", "link-email_domain": "", "link-ttl_hours": "24"}
    data.update(changes)
    return data


def _valid(code: str) -> Invite | None:
    db.session.expire_all()
    return services.validate(code, utcnow())


def _make(user, tenant, **fields) -> tuple[Invite, str]:
    invite, code = services.issue(actor(user), tenant, now=utcnow(), **{"role": "member", **fields})
    db.session.commit()
    return invite, code


# ---------------------------------------------------------------- issuing and the one-time reveal


def test_personal_invite_redirects_then_shows_link_and_code_once(client, auth, admin, caplog):
    user, tenant = admin
    auth.login(user)
    caplog.set_level(logging.DEBUG)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert "Invite someone" in page and "5 invites left today" in page and "No invite yet." in page

    response = client.post(_url(tenant), _personal())
    assert response.status_code == 303 and response.headers["Location"] == _url(tenant)
    assert not CODE.search(response.get_data(as_text=True))
    assert "hbx_i_" not in "; ".join(response.headers.getlist("Set-Cookie"))  # kept encrypted in the session

    shown = client.get(_url(tenant))
    body = shown.get_data(as_text=True)
    assert "no-store" in shown.headers["Cache-Control"]
    code = CODE.search(body).group(0)
    assert LINK.search(body).group(1) == f"http://localhost/join/{code}"
    assert 'id="copy-link"' in body and 'id="copy-code"' in body and "4 invites left today" in body
    invite = _invites()[0]
    assert invite.email == "new.person@example.com" and invite.role == Role.MEMBER and invite.ttl_hours == 48
    assert invite.digest != code and code not in invite.hint  # only a digest and a hint are stored
    assert _valid(code).id == invite.id

    again = client.get(_url(tenant)).get_data(as_text=True)  # a reload shows it no more
    assert code not in again and not CODE.search(again)
    assert invite.hint in again and "new.person@example.com" in again and "4 invites left today" in again
    # never in the audit trail, a log line or a flash
    details = " ".join(str(e.details) for e in db.session.scalars(select(AuditEvent)
                                                                  .execution_options(all_tenants=True)))
    assert "invite.created" in " ".join(e.action for e in db.session.scalars(select(AuditEvent)
                                                                             .execution_options(all_tenants=True)))
    assert code not in details and code not in caplog.text


def test_shareable_link_with_domain_and_approval(client, auth, admin):
    user, tenant = admin
    auth.login(user)
    response = client.post(_url(tenant, "/links"), _link(**{"link-email_domain": "@Example.COM",
                                                            "link-needs_approval": "y"}))
    assert response.status_code == 303
    body = client.get(_url(tenant)).get_data(as_text=True)
    assert "Shareable link" in body and CODE.search(body)
    invite = _invites()[0]
    assert (invite.kind.value, invite.max_uses, invite.email_domain, invite.needs_approval) == (
        "link", 3, "example.com", True)
    listed = client.get(_url(tenant)).get_data(as_text=True)
    assert "link (0/3)" in listed and "@example.com" in listed


def test_every_field_error_at_once_without_javascript(client, auth, admin):
    user, tenant = admin
    auth.login(user)
    response = client.post(_url(tenant), _personal(**{"invite-email": "not an address", "invite-role": "king",
                                                      "invite-ttl_hours": "9999"}))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.count('class="invalid-feedback d-block"') == 3 and "Some fields need attention." in body
    response = client.post(_url(tenant, "/links"), _link(**{"link-max_uses": "0", "link-email_domain": "no domain",
                                                            "link-ttl_hours": "x"}))
    assert response.status_code == 422
    assert response.get_data(as_text=True).count('class="invalid-feedback d-block"') == 3
    assert _invites() == []


def test_send_by_email_needs_an_address(client, auth, admin):
    user, tenant = admin
    auth.login(user)
    response = client.post(_url(tenant), _personal(**{"invite-email": "", "invite-send_email": "y"}))
    assert response.status_code == 422 and "Enter the address to send the invite to" in response.get_data(as_text=True)
    assert _invites() == []


def test_email_is_queued_with_the_link_and_no_code_in_the_job_or_the_flash(client, auth, admin):
    user, tenant = admin
    auth.login(user)
    assert client.post(_url(tenant), _personal(**{"invite-send_email": "y"})).status_code == 303
    body = client.get(_url(tenant)).get_data(as_text=True)
    code = CODE.search(body).group(0)
    assert "It was sent by email to new.person@example.com" in body
    message = db.session.scalar(select(EmailMessage).where(EmailMessage.kind == "invite"))
    assert message.recipient == "new.person@example.com" and tenant.name in message.subject
    assert f"http://localhost/join/{code}" in message.text_body and f"/join/{code}" in message.html_body
    assert message.locale == tenant.default_locale


def test_daily_limit_says_why_and_how_many_are_left(client, auth, admin):
    user, tenant = admin
    tenant.invite_daily_limit = 2
    db.session.commit()
    auth.login(user)
    assert client.post(_url(tenant), _personal(**{"invite-email": ""})).status_code == 303
    assert "1 invite left today" in client.get(_url(tenant)).get_data(as_text=True)
    assert client.post(_url(tenant), _personal(**{"invite-email": ""})).status_code == 303
    client.get(_url(tenant))
    response = client.post(_url(tenant), _personal(**{"invite-email": ""}))
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert "You have made 2 invites today, the daily limit here." in body and "No invites left today" in body
    assert len(_invites()) == 2


def test_a_role_above_ones_own_is_neither_offered_nor_accepted(client, auth, member_of, create_user):
    owner, tenant = member_of(Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    auth.login(admin)
    page = client.get(_url(tenant)).get_data(as_text=True)
    form = page[page.index('id="personal-form"'):page.index("</form>", page.index('id="personal-form"'))]
    assert 'value="admin"' in form and 'value="owner"' not in form
    response = client.post(_url(tenant), _personal(**{"invite-role": "owner"}))
    assert response.status_code == 403 and "You cannot invite to a role above your own." in response.get_data(
        as_text=True)
    assert _invites() == []


def test_members_without_the_permission_cannot_open_or_issue(client, auth, member_of, create_user):
    _owner, tenant = member_of(Role.OWNER)
    member = create_user(tenant=tenant, role=Role.MEMBER)
    auth.login(member)
    assert client.get(_url(tenant)).status_code == 403
    assert client.post(_url(tenant), _personal()).status_code == 403


def test_a_repeated_submit_issues_once(client, auth, admin):
    user, tenant = admin
    auth.login(user)
    nonce = client.nonce()
    assert client.post(_url(tenant), _personal(form_nonce=nonce)).status_code == 303
    assert client.post(_url(tenant), _personal(form_nonce=nonce)).status_code == 409
    assert len(_invites()) == 1


# ---------------------------------------------------------------- the list


def test_filters_search_and_pages(client, auth, admin, create_user):
    user, tenant = admin
    other = create_user(tenant=tenant, role=Role.ADMIN, email="other.admin@example.com")
    create_user(tenant=tenant, role=Role.MEMBER, email="never.invited@example.com")
    tenant.invite_daily_limit = 100
    db.session.commit()
    for n in range(22):
        _make(user, tenant, email=f"p{n}@example.com")
    _make(other, tenant, role="manager", email="manager.one@corp.example")
    link, _ = _make(user, tenant, kind="link", max_uses=5, email_domain="corp.example")
    revoked, _ = _make(user, tenant, email="gone@example.com")
    services.revoke(actor(user), tenant, revoked.id, now=utcnow())
    db.session.commit()
    auth.login(user)

    first = client.get(_url(tenant)).get_data(as_text=True)
    assert "25 invites" in first and "Page 1 of 2" in first
    choices = re.search(r'<select[^>]*name="inviter".*?</select>', first, re.S).group(0)
    assert "other.admin@example.com" in choices and "never.invited@example.com" not in choices  # who invited
    second = client.get(_url(tenant, "?page=2")).get_data(as_text=True)
    assert "Page 2 of 2" in second and "p0@example.com" in second
    by_role = client.get(_url(tenant, "?role=manager")).get_data(as_text=True)
    assert "1 invite" in by_role and "manager.one@corp.example" in by_role
    by_inviter = client.get(_url(tenant, f"?inviter={other.id}")).get_data(as_text=True)
    assert "1 invite" in by_inviter
    by_kind = client.get(_url(tenant, "?kind=link")).get_data(as_text=True)
    assert "1 invite" in by_kind and "link (0/5)" in by_kind
    by_status = client.get(_url(tenant, "?status=revoked")).get_data(as_text=True)
    assert "1 invite" in by_status and "gone@example.com" in by_status
    searched = client.get(_url(tenant, "?q=corp.example")).get_data(as_text=True)
    assert "2 invites" in searched
    by_hint = client.get(_url(tenant, f"?q={link.hint[-4:]}")).get_data(as_text=True)
    assert link.hint in by_hint
    fragment = client.get(_url(tenant, "?q=p1"), headers={"HX-Request": "true", "HX-Target": "div#invites-list"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "p1@example.com" in html and "Invite someone" not in html
    odd = client.get(_url(tenant, "?status=weird&role=emperor&inviter=99999999999&page=-4&kind=x"))
    assert odd.status_code == 200 and "25 invites" in odd.get_data(as_text=True)


def test_other_tenants_invites_are_not_found(client, auth, admin, member_of):
    user, tenant = admin
    stranger, elsewhere = member_of(Role.OWNER)
    theirs, _ = _make(stranger, elsewhere)
    auth.login(user)
    assert client.get(_url(tenant, f"/{theirs.id}/revoke")).status_code == 404
    assert client.post(_url(tenant, f"/{theirs.id}/revoke")).status_code == 404
    assert client.post(_url(tenant, f"/{theirs.id}/renew")).status_code == 404
    assert _invites()[0].status == InviteStatus.PENDING


# ---------------------------------------------------------------- revoke, resend, renew


def test_revoke_asks_first_then_stops_the_code(client, auth, admin):
    user, tenant = admin
    invite, code = _make(user, tenant, email="a@example.com")
    auth.login(user)
    listed = client.get(_url(tenant)).get_data(as_text=True)
    assert f'href="{_url(tenant, f"/{invite.id}/revoke")}"' in listed
    asked = client.get(_url(tenant, f"/{invite.id}/revoke")).get_data(as_text=True)
    assert "Revoke invite" in asked and invite.hint in asked and 'method="post"' in asked
    assert _invites()[0].status == InviteStatus.PENDING  # asking changes nothing
    response = client.post(_url(tenant, f"/{invite.id}/revoke"))
    assert response.status_code == 302 and response.headers["Location"] == _url(tenant)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert f"Invite {invite.hint} revoked" in page
    assert _invites()[0].status == InviteStatus.REVOKED and _valid(code) is None
    again = client.post(_url(tenant, f"/{invite.id}/revoke"))
    assert again.status_code == 409 and "no longer pending" in again.get_data(as_text=True)


def test_resend_shows_a_new_code_once_the_old_one_fails_and_the_email_goes_again(client, auth, admin):
    user, tenant = admin
    invite, old = _make(user, tenant, email="again@example.com")
    auth.login(user)
    asked = client.get(_url(tenant, f"/{invite.id}/resend")).get_data(as_text=True)
    assert "sent again by email to again@example.com" in asked
    response = client.post(_url(tenant, f"/{invite.id}/resend"))
    assert response.status_code == 303
    body = client.get(_url(tenant)).get_data(as_text=True)
    new = CODE.search(body).group(0)
    assert new != old and "the old one no longer works" in body
    assert _valid(old) is None and _valid(new).id == invite.id
    message = db.session.scalar(select(EmailMessage).where(EmailMessage.kind == "invite"))
    assert message.recipient == "again@example.com" and f"/join/{new}" in message.text_body
    assert new not in client.get(_url(tenant)).get_data(as_text=True)


def test_an_expired_invite_is_renewed_in_one_click(client, auth, admin):
    user, tenant = admin
    invite, old = _make(user, tenant)
    invite.expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    auth.login(user)
    listed = client.get(_url(tenant)).get_data(as_text=True)
    assert "expired" in listed and f'action="{_url(tenant, f"/{invite.id}/renew")}"' in listed
    assert client.post(_url(tenant, f"/{invite.id}/renew")).status_code == 303
    body = client.get(_url(tenant)).get_data(as_text=True)
    new = CODE.search(body).group(0)
    assert "was renewed with a new code" in body and _valid(new).id == invite.id
    assert _valid(old) is None
    refused = client.post(_url(tenant, f"/{invite.id}/renew"))  # pending again: nothing to renew
    assert refused.status_code == 409 and "Only an expired invite can be renewed." in refused.get_data(as_text=True)


def test_an_admin_cannot_revoke_resend_or_renew_an_owner_invite(client, auth, member_of, create_user):
    owner, tenant = member_of(Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    invite, code = _make(owner, tenant, role="owner")
    auth.login(admin)
    listed = client.get(_url(tenant)).get_data(as_text=True)
    assert invite.hint in listed and f"/{invite.id}/revoke" not in listed
    assert "role above yours" in client.get(_url(tenant, f"/{invite.id}/revoke")).get_data(as_text=True)
    assert client.post(_url(tenant, f"/{invite.id}/revoke")).status_code == 403
    assert client.post(_url(tenant, f"/{invite.id}/resend")).status_code == 403
    assert _invites()[0].status == InviteStatus.PENDING and _valid(code) is not None


# ---------------------------------------------------------------- joins waiting for approval


def _waiting_join(user, tenant, create_user, email="joiner@example.com"):
    invite, code = _make(user, tenant, kind="link", max_uses=5, needs_approval=True)
    joiner = create_user(email=email)
    assert services.accept(code, joiner, utcnow()) is None
    db.session.commit()
    return joiner, db.session.scalar(select(InviteUse).where(InviteUse.user_id == joiner.id))


def test_approve_gives_the_membership(client, auth, admin, create_user):
    user, tenant = admin
    joiner, use = _waiting_join(user, tenant, create_user)
    auth.login(user)
    page = client.get(_url(tenant)).get_data(as_text=True)
    assert "Waiting for approval" in page and "joiner@example.com" in page
    response = client.post(_url(tenant, f"/joins/{use.id}/approve"))
    assert response.status_code == 302
    assert "joiner@example.com joined as member." in client.get(_url(tenant)).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(Membership).where(Membership.user_id == joiner.id)).tenant_id == tenant.id
    assert client.post(_url(tenant, f"/joins/{use.id}/approve")).status_code == 404  # not waiting any more


def test_decline_asks_first_and_gives_nothing(client, auth, admin, create_user):
    user, tenant = admin
    joiner, use = _waiting_join(user, tenant, create_user)
    auth.login(user)
    asked = client.get(_url(tenant, f"/joins/{use.id}/decline")).get_data(as_text=True)
    assert "Decline the request of joiner@example.com to join?" in asked
    assert client.post(_url(tenant, f"/joins/{use.id}/decline")).status_code == 302
    assert "was declined" in client.get(_url(tenant)).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(Membership).where(Membership.user_id == joiner.id)) is None
    assert "Waiting for approval" not in client.get(_url(tenant)).get_data(as_text=True)


def test_the_link_shown_is_on_the_public_address_when_one_is_set(app, client, auth, admin):
    user, tenant = admin
    app.config["PUBLIC_URL"] = "https://access.example.com"
    auth.login(user)
    assert client.post(_url(tenant), _personal()).status_code == 303
    body = client.get(_url(tenant)).get_data(as_text=True)
    assert LINK.search(body).group(1) == f"https://access.example.com/join/{CODE.search(body).group(0)}"
