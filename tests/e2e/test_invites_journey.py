"""Joining by an invite in a real browser: a new person opens the link, the code leaves the address bar, they sign
up and land in the organization; a second browser with the same link is refused with the neutral message."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.users.models import Membership, Role, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import rows
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
    expect(page.get_by_text("Welcome to Journey Co. You joined as member.")).to_be_visible()
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
    expect(pg.get_by_text("Welcome to Plain Co. You joined as manager.")).to_be_visible()
