"""The invite pages in a real browser: an admin issues a personal invite (every error at once first), copies the
link shown once, filters the list; revokes after a confirmation page and renews an expired invite without
JavaScript; the page on a phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus
from app.users.models import Role
from tests.e2e.conftest import htmx_ready, rows, same_document, sign_in
from tests.invites.helpers import actor

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect

CODE = re.compile(r"hbx_i_[0-9A-Za-z]{36}")


def test_issue_copy_and_filter_invites(page, live_server, signed_in):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _, tenant = signed_in(Role.ADMIN, "inviter@example.com")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Invites").click()
    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/invites$"))
    expect(page.locator("#invites-left")).to_contain_text("5 invites left today")

    form = page.locator("#personal-form")
    form.get_by_label("Email (optional)").fill("not an address")
    form.get_by_label("Lifetime (hours)").fill("100000")
    form.get_by_role("button", name="Create invite").click()
    summary = form.locator(".alert-danger")
    expect(summary.get_by_role("link", name="Email (optional)")).to_be_visible()
    expect(summary.get_by_role("link", name="Lifetime (hours)")).to_be_visible()

    form = page.locator("#personal-form")
    form.get_by_label("Email (optional)").fill("new.person@example.com")
    form.get_by_label("Lifetime (hours)").fill("48")
    form.get_by_label("Send the invite to this address by email").check()
    form.get_by_role("button", name="Create invite").click()
    link = page.get_by_label("Link to send")
    expect(link).to_be_visible()
    value = link.input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/join/hbx_i_[0-9A-Za-z]{{36}}", value)
    expect(page.locator("#invite-reveal")).to_contain_text("sent by email to new.person@example.com")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#invite-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == value
    page.get_by_role("link", name="I have copied it").click()
    expect(page.locator("#personal-form")).to_be_visible()
    assert not CODE.search(page.content())

    # the list filters as one types (htmx), the address follows
    [invite] = rows(Invite)
    htmx_ready(page)
    page.get_by_label("Search email, domain or code hint").fill("nobody-here")
    expect(page.locator("#invites-list")).to_contain_text("No invite matches.")
    page.get_by_label("Search email, domain or code hint").fill("new.person")
    expect(page.locator("#invites-list")).to_contain_text(invite.hint)
    assert same_document(page)
    expect(page).to_have_url(re.compile(r"q=new.person"))


def test_revoke_and_renew_without_javascript(page_without_js, member_of, create_tenant):
    page = page_without_js
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"), email="nojs@example.com")
    kept, _ = services.issue(actor(admin), tenant, role="member", email="keep@example.com", now=utcnow())
    old, _ = services.issue(actor(admin), tenant, role="member", email="old@example.com", now=utcnow())
    old.expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    sign_in(page, "nojs@example.com")
    page.goto(f"/t/{tenant.slug}/invites")

    page.locator(f"#invite-{kept.id}").get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke invite")
    page.get_by_role("button", name="Revoke invite").click()
    expect(page.locator(".alert-success, [role=status]").first).to_be_visible()
    expect(page.locator(f"#invite-{kept.id}")).to_contain_text("revoked")

    page.locator(f"#invite-{old.id}").get_by_role("button", name=re.compile("Renew")).click()
    expect(page.locator("#invite-reveal")).to_contain_text("was renewed with a new code")
    assert CODE.search(page.get_by_label("Code (to type at the join page instead)").input_value())
    statuses = {i.id: i.status for i in rows(Invite)}
    assert statuses == {kept.id: InviteStatus.REVOKED, old.id: InviteStatus.PENDING}


def test_the_invites_page_on_a_phone(phone, member_of, create_tenant):
    admin, tenant = member_of(Role.OWNER, tenant=create_tenant(default_locale="en"), email="phone@example.com")
    for n in range(3):
        services.issue(actor(admin), tenant, role="member", email=f"a.rather.long.address.{n}@example.com",
                       now=utcnow())
    services.issue(actor(admin), tenant, role="member", kind="link", max_uses=5, email_domain="example.com",
                   now=utcnow())
    db.session.commit()
    sign_in(phone, "phone@example.com")
    phone.goto(f"/t/{tenant.slug}/invites")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Invites")
    phone.goto(f"/t/{tenant.slug}/")
    expect(phone.locator("#card-invites")).to_contain_text("pending invites")
