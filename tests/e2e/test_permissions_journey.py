"""Permissions in a real browser: an admin adds a deny rule with htmx, reads why, and removes it again."""

from __future__ import annotations

import re

import pytest

from app.core.actor import Actor
from app.extensions import db
from app.permissions.models import PermissionRule
from app.permissions.services import create_rule
from app.users.models import Role
from tests.e2e.conftest import htmx_ready, page_width, rows, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_admin_adds_explains_and_removes_a_rule(page, page_errors, signed_in, create_user):
    _, tenant = signed_in(Role.ADMIN, "admin@example.com")
    create_user("bob@example.com", tenant=tenant, role=Role.MANAGER)
    slug = tenant.slug

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Permissions").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/permissions$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Permissions")

    # Search members as you type (htmx swaps the list only).
    page.wait_for_function("() => window.htmx !== undefined")
    members = page.locator("#perm-members-list")
    expect(members).to_contain_text("admin@example.com")
    page.get_by_label("Search members by email or name").fill("bob")
    expect(members).not_to_contain_text("admin@example.com")
    expect(members.get_by_role("status")).to_have_text("1 member")

    # Choose Bob: his matrix, with the manager's defaults.
    page.locator("#perm-members-list").get_by_role("link", name=re.compile("bob@example.com")).click()
    expect(page.get_by_role("heading", name="Effective permissions of bob@example.com")).to_be_visible()
    view_row = page.locator("#cell-permissions-view")
    expect(view_row).to_contain_text("Allowed")
    expect(view_row).to_contain_text("The role manager includes permissions.view by default.")

    htmx_ready(page)

    # Add a deny rule with the form: the list, the matrix and the form change in place.
    form = page.locator("#rule-form")
    form.get_by_label("Member").select_option(label="bob@example.com (manager)")
    form.get_by_label("Effect").select_option("deny")
    form.get_by_label("Permission").select_option("permissions.*")
    form.get_by_label("Reason").fill("Audit in progress")
    form.get_by_role("button", name="Add rule").click()

    expect(page.locator("#perm-rule-form").get_by_role("status")).to_contain_text(
        "added: Deny permissions.* for bob@example.com")
    [rule] = rows(PermissionRule)
    row = page.locator(f"#rule-{rule.id}")
    expect(row).to_contain_text("Audit in progress")
    expect(view_row).to_contain_text("Denied")
    assert same_document(page)  # no reload
    expect(page.locator("#rule-form").get_by_label("Reason")).to_have_value("")

    # Why? for the cell: the panel says which rule decided, with the trace.
    view_row.get_by_role("link", name="Why?").click()
    why = page.locator("#perm-why")
    expect(why).to_contain_text(f"Denied by DENY rule #{rule.id} (tenant) on permissions.*: Audit in progress.")
    expect(why.get_by_role("listitem").first).to_contain_text("matches: DENY rule")
    assert same_document(page)

    # Check as: the same question through the form, with a resource.
    check = page.locator("#check-form")
    check.get_by_label("Action").select_option("settings.manage")
    check.get_by_label("Resource (optional)").fill("user:1")
    check.get_by_role("button", name="Check").click()
    expect(why).to_contain_text("No role default or rule grants settings.manage.")

    # Remove the rule, accepting the browser's confirmation.
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("Remove")).click()
    expect(page.locator("#perm-rules-list").get_by_role("status")).to_contain_text(f"Rule #{rule.id} removed.")
    expect(row).to_have_count(0)
    expect(view_row).to_contain_text("Allowed")
    assert same_document(page)
    assert rows(PermissionRule) == []

    assert page_errors.all() == []


def test_permissions_page_fits_a_phone(page, page_errors, member_of, create_user, create_tenant):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"), email="admin@example.com")
    bob = create_user("bob@example.com", tenant=tenant, role=Role.MANAGER)
    create_rule(Actor(admin), tenant, user_id=bob.id, effect="deny", target="settings.*", reason="a long reason " * 8)
    db.session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "admin@example.com")
    page.goto(f"/t/{tenant.slug}/permissions?user={bob.id}")
    expect(page.get_by_role("heading", name="Effective permissions of bob@example.com")).to_be_visible()
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    width, viewport = page_width(page)
    assert width <= viewport, f"the page is {width}px wide on a {viewport}px screen"
    assert page_errors.all() == []
