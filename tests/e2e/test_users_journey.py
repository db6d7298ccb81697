"""People in a real browser: an admin finds a member in the users list (search as one types, the address kept in
step), opens them, blocks them after the confirmation page, and the member's open session is refused at its next
click; the member's own sessions page ends another browser; the users list on a phone."""

from __future__ import annotations

import re

import pytest

from app.users.models import Role
from tests.e2e.conftest import PageErrors, _finish, _new_page, htmx_ready, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_an_admin_finds_and_blocks_a_member_whose_open_session_is_refused(page, browser, live_server, signed_in,
                                                                          create_user):
    admin, tenant = signed_in(Role.ADMIN, "admin@example.com")
    member = create_user("carla.member@example.com", tenant=tenant, name="Carla Mendes")
    create_user("other.member@example.com", tenant=tenant, name="Otto Outro")
    errors = PageErrors()
    context, members_page = _new_page(browser, live_server, errors)
    try:
        sign_in(members_page, member.email)
        expect(members_page).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))

        page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Users")
        htmx_ready(page)
        page.get_by_label("Name or email").fill("mendes")
        expect(page.locator("#users-list")).to_contain_text("1 member.")
        expect(page).to_have_url(re.compile(r"[?&]q=mendes"))  # the address follows the search
        assert same_document(page)
        page.get_by_role("link", name="Carla Mendes").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Carla Mendes")
        expect(page.locator("#sessions-title + ul")).to_contain_text("Chrome")

        page.get_by_role("link", name="Block here").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Block this member here?")
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("status").first).to_contain_text("is blocked in this tenant")

        # The member's next click: their session here has ended.
        members_page.reload()
        expect(members_page).to_have_url(re.compile(r"/auth/login"))
    finally:
        _finish(context, members_page, errors)


def test_ending_another_browser_from_ones_own_sessions_page(page, browser, live_server, signed_in):
    user, tenant = signed_in(Role.MEMBER, "me@example.com")
    errors = PageErrors()
    context, laptop = _new_page(browser, live_server, errors)
    try:
        sign_in(laptop, user.email)
        page.goto("/account/sessions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your sessions")
        expect(page.locator("#own-sessions")).to_contain_text("2 sessions are signed in.")
        htmx_ready(page)
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="End all other sessions").click()
        expect(page.locator("#own-sessions")).to_contain_text("1 other session was ended.")
        assert same_document(page)
        laptop.goto(f"/t/{tenant.slug}/")
        expect(laptop).to_have_url(re.compile(r"/auth/login"))
    finally:
        _finish(context, laptop, errors)


def test_the_users_pages_on_a_phone(phone, member_of, create_tenant, create_user):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"), email="phone-admin@example.com")
    for n in range(3):
        create_user(f"someone.with.a.rather.long.address.{n}@example.com", tenant=tenant)
    sign_in(phone, admin.email)
    phone.goto(f"/t/{tenant.slug}/users")
    expect(phone.locator("#users-list")).to_contain_text("4 members.")
    phone.goto(f"/t/{tenant.slug}/users/{admin.id}")
    phone.goto("/account")
    phone.goto("/account/sessions")
    phone.goto(f"/t/{tenant.slug}/sessions")
