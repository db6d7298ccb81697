"""Joining by an invite in a real browser: an admin invites an address from the invites page, the message waits in
the development outbox, the new person follows its link in a second browser, signs up and lands in the
organization, and a third browser with the same link is refused; a person opening the link, the code leaving the
address bar; an existing user signing in then joining without JavaScript."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.users.models import Membership, Role, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import rows, sign_in
from tests.invites.helpers import actor


def test_a_new_person_joins_by_the_link_and_a_second_browser_is_refused(page, phone, member_of, create_tenant):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(name="Journey Co", default_locale="en"))
    _invite, code = services.issue(actor(admin), tenant, role=Role.MEMBER, now=utcnow())
    db.session.commit()

    page.goto(f"/join/{code}")
    expect(page).to_have_url(re.compile(r"/join/continue$"))  # the code left the address bar
    assert code not in page.url
    expect(page.get_by_role("heading", name="Join Journey Co")).to_be_visible()
    page.get_by_label("Your name").fill("Nova Person")
    page.get_by_label("Email", exact=True).fill("nova@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account and join").click()

    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))
    expect(page.get_by_text("You joined Journey Co as member. Welcome!")).to_be_visible()
    nova = next(user for user in rows(User) if user.email == "nova@example.com")
    assert any(m.user_id == nova.id and m.tenant_id == tenant.id for m in rows(Membership))

    phone.goto(f"/join/{code}")  # another browser, the same link: used
    expect(phone).to_have_url(re.compile(r"/join/continue$"))
    expect(phone.get_by_role("alert")).to_contain_text("This invite is not valid.")
    expect(phone.get_by_role("button", name="Create my account and join")).to_have_count(0)
    assert sum(1 for m in rows(Membership) if m.tenant_id == tenant.id) == 2  # the admin and Nova


def test_an_existing_user_signs_in_and_joins_without_javascript(page_without_js, member_of, create_tenant,
                                                                create_user):
    pg = page_without_js
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(name="Plain Co", default_locale="en"))
    create_user("known@example.com")
    _invite, code = services.issue(actor(admin), tenant, role=Role.MANAGER, now=utcnow())
    db.session.commit()

    pg.goto("/join")
    pg.get_by_label("Invite code").fill(code)
    pg.get_by_role("button", name="Continue").click()
    expect(pg).to_have_url(re.compile(r"/join/continue$"))
    pg.get_by_role("link", name="Sign in to join").click()
    pg.get_by_label("Email").fill("known@example.com")
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    expect(pg).to_have_url(re.compile(r"/join/continue$"))  # back to the same invite after signing in
    pg.get_by_role("button", name="Join Plain Co as manager").click()
    expect(pg).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))
    expect(pg.get_by_text("You joined Plain Co as manager. Welcome!")).to_be_visible()


def test_an_admin_invites_by_email_the_person_joins_from_the_outbox_and_a_second_use_is_refused(
        page, phone, page_without_js, member_of, create_tenant):
    member_of(Role.ADMIN, tenant=create_tenant(name="Outbox Co", default_locale="en"), email="boss@example.com")
    sign_in(page, "boss@example.com")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Invites").click()
    form = page.locator("#personal-form")
    form.get_by_label("Email (optional)").fill("newcomer@example.com")
    form.get_by_label("Send the invite to this address by email").check()
    form.get_by_role("button", name="Create invite").click()
    link = page.get_by_label("Link to send").input_value()
    expect(page.locator("#invite-reveal")).to_contain_text("sent by email to newcomer@example.com")

    phone.goto("/dev/outbox")  # the invitee's browser: the message, its link
    phone.get_by_role("link", name="You are invited to Outbox Co").click()
    expect(phone.locator("#message-text")).to_contain_text(link)
    phone.locator("#message-text").get_by_role("link", name=link).click()
    expect(phone).to_have_url(re.compile(r"/join/continue$"))
    expect(phone.get_by_label("Email", exact=True)).to_have_value("newcomer@example.com")
    phone.get_by_label("Your name").fill("New Comer")
    phone.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.get_by_label("Password again").fill(PASSWORD)
    phone.get_by_role("button", name="Create my account and join").click()
    expect(phone.get_by_text("You joined Outbox Co as member. Welcome!")).to_be_visible()

    page_without_js.goto(link)  # a third browser, the same link: used up
    expect(page_without_js.get_by_role("alert")).to_contain_text("This invite is not valid.")
    newcomer = next(user for user in rows(User) if user.email == "newcomer@example.com")
    assert [m.role for m in rows(Membership) if m.user_id == newcomer.id] == [Role.MEMBER]

    page.reload()  # the admin's list: accepted
    expect(page.locator("#invites-list")).to_contain_text("accepted")
