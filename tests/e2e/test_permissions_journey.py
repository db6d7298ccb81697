"""Permissions and settings in a real browser: an admin adds a deny rule with htmx (once, however often they
click), reads why (and what the deny overrode), changes the rule and removes it; the same without JavaScript,
confirmed on a page; the matrix and the "why?" panel on a phone; the tenant's time zone searched and saved."""

from __future__ import annotations

import re

import pytest

from app.core.actor import Actor
from app.extensions import db
from app.permissions.models import PermissionRule
from app.permissions.services import create_rule
from app.tenants.models import Tenant
from app.users.models import Role
from tests.e2e.conftest import check_page, htmx_ready, rows, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect

# How many lines an inline element's text takes (a word cut in two takes two).
TEXT_LINES = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
}"""
# How many lines a button's label takes (its height, padding aside, in lines).
BOX_LINES = """(el) => {
  const s = getComputedStyle(el);
  const inner = el.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom);
  return Math.round(inner / parseFloat(s.lineHeight));
}"""
# Whether an element is wholly inside the viewport.
IN_VIEW = "(el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }"
# Whether a box shows all its content (nothing cut off to scroll to).
FITS = "(el) => el.scrollWidth <= el.clientWidth"


def _comes_into_view(page, element_id: str) -> None:
    """Wait (scrolling is smooth) until the element is wholly in the viewport."""
    page.wait_for_function(f"() => ({IN_VIEW})(document.getElementById('{element_id}'))")


def _team(member_of, create_user, create_tenant, *, reason: str = "Audit in progress"):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"),
                              email="admin.with.a.long.name@example.com")
    bob = create_user("bob.the.manager@example.com", tenant=tenant, role=Role.MANAGER)
    rule = create_rule(Actor(admin), tenant, user_id=bob.id, effect="deny", target="settings.*", reason=reason)
    db.session.commit()
    return admin, bob, tenant, rule


def test_admin_adds_explains_edits_and_removes_a_rule(page, signed_in, create_user):
    _, tenant = signed_in(Role.ADMIN, "admin@example.com")
    create_user("bob@example.com", tenant=tenant, role=Role.MANAGER)
    slug = tenant.slug

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Permissions").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/permissions$"))
    htmx_ready(page)
    members = page.locator("#perm-members-list")
    page.get_by_label("Search members by email or name").fill("bob")
    expect(members.get_by_role("status")).to_have_text("1 member")
    members.get_by_role("link", name=re.compile("bob@example.com")).click()
    expect(page.get_by_role("heading", name="Effective permissions of bob@example.com")).to_be_visible()
    view_row = page.locator("#cell-permissions-view")
    expect(view_row).to_contain_text("The role manager includes permissions.view by default.")
    htmx_ready(page)

    # A double click on "Add rule" adds one rule.
    form = page.locator("#rule-form")
    form.get_by_label("Member").select_option(label="bob@example.com (manager)")
    form.get_by_label("Effect").select_option("deny")
    form.get_by_label("Permission").select_option("permissions.*")
    form.get_by_label("Reason").fill("Audit in progress")
    form.get_by_role("button", name="Add rule").dblclick()
    expect(page.locator("#perm-rule-form").get_by_role("status")).to_contain_text(
        "added: Deny permissions.* for bob@example.com")
    expect(page.locator("#perm-rule-form [data-focus-on-arrival]")).to_be_focused()  # not lost to the page
    page.wait_for_timeout(300)  # a second request, had one gone, would have been answered by now
    [rule] = rows(PermissionRule)
    row = page.locator(f"#rule-{rule.id}")
    expect(row).to_contain_text("Audit in progress")
    expect(view_row).to_contain_text("Denied")
    assert same_document(page)

    # Why? The panel takes the focus, stays in sight, says the verdict once and what the deny overrode.
    view_row.get_by_role("link", name="Why?").press("Enter")  # from the keyboard: where does the focus go?
    why = page.locator("#perm-why")
    expect(why).to_contain_text(f"DENY rule #{rule.id} (tenant) on permissions.*: Audit in progress")
    expect(why).to_contain_text("Overrode")
    expect(why).to_contain_text("The role manager includes permissions.view by default.")
    expect(why).not_to_contain_text("Denied by")
    expect(page.locator("#why-title")).to_be_focused()
    _comes_into_view(page, "why-title")
    assert same_document(page)

    # Check as, with every mistake at once, each naming its field; then a good question.
    check = page.locator("#check-form")
    check.get_by_label("Action").select_option("")
    check.get_by_label("Resource (optional)").fill("oops")
    check.get_by_role("button", name="Check").click()
    expect(why.get_by_role("link", name="Action")).to_be_visible()
    expect(why.get_by_role("link", name="Resource (optional)")).to_be_visible()
    page.locator("#check-form").get_by_label("Action").select_option("settings.manage")
    page.locator("#check-form").get_by_label("Resource (optional)").fill("user:1")
    page.locator("#check-form").get_by_role("button", name="Check").click()
    expect(why).to_contain_text("No role default or rule grants settings.manage.")

    # Emails and buttons do not wrap inside a word.
    assert row.locator(".perm-email").evaluate(TEXT_LINES) == 1
    for button in row.locator(".perm-actions .btn").all():
        assert button.evaluate(BOX_LINES) == 1

    # Change the rule's reason and expiry on its page; back at the rule, changed.
    row.get_by_role("link", name=f"Edit rule #{rule.id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Change rule #{rule.id}")
    page.get_by_label("Reason").fill("Audit until Friday")
    page.get_by_label("Expires (optional)").fill("2099-01-01T09:30")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/permissions\?.*#rule-{rule.id}$"))
    expect(page.get_by_text(f"Rule #{rule.id} changed.")).to_be_visible()
    expect(page.locator(f"#rule-{rule.id}")).to_contain_text("Audit until Friday")

    # Remove it, accepting the browser's confirmation: the list and the matrix change in place.
    htmx_ready(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#rule-{rule.id}").get_by_role("link", name=f"Remove rule #{rule.id}").click()
    expect(page.locator("#perm-rules-list").get_by_role("status")).to_contain_text(f"Rule #{rule.id} removed.")
    expect(page.locator("#perm-rules-list [data-focus-on-arrival]")).to_be_focused()
    expect(page.locator(f"#rule-{rule.id}")).to_have_count(0)
    expect(page.locator("#cell-permissions-view")).to_contain_text("Allowed")
    assert same_document(page)
    assert rows(PermissionRule) == []


def test_without_javascript_rules_are_explained_changed_and_removed_after_a_confirmation(
        page_without_js, member_of, create_user, create_tenant):
    page = page_without_js
    admin, bob, tenant, rule = _team(member_of, create_user, create_tenant)
    sign_in(page, admin.email)
    page.goto(f"/t/{tenant.slug}/permissions?user={bob.id}")

    page.locator("#cell-settings-manage").get_by_role("link", name="Why?").click()
    expect(page).to_have_url(re.compile(r"/permissions/why\?.*#why-title$"))
    expect(page.locator("#perm-why")).to_contain_text(f"DENY rule #{rule.id} (tenant) on settings.*")

    page.get_by_role("link", name=f"Edit rule #{rule.id}").click()
    page.get_by_label("Reason").fill("")
    page.get_by_label("Expires (optional)").fill("2001-01-01T10:00")
    page.get_by_role("button", name="Save changes").click()
    summary = page.locator(".alert-danger")
    expect(summary.get_by_role("link", name="Reason")).to_be_visible()
    expect(summary.get_by_role("link", name="Expires (optional)")).to_be_visible()
    page.get_by_label("Reason").fill("Reworded without a script")
    page.get_by_label("Expires (optional)").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"Rule #{rule.id} changed.")).to_be_visible()

    page.get_by_role("link", name=f"Remove rule #{rule.id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Remove rule #{rule.id}?")
    expect(page.get_by_text("Reworded without a script")).to_be_visible()
    assert len(rows(PermissionRule)) == 1  # asking is not removing
    page.get_by_role("button", name="Remove rule").click()
    expect(page.get_by_text(f"Rule #{rule.id} removed.")).to_be_visible()
    assert rows(PermissionRule) == []


def test_the_matrix_and_the_why_panel_fit_a_phone(phone, page_errors, member_of, create_user, create_tenant):
    page = phone
    admin, bob, tenant, rule = _team(member_of, create_user, create_tenant, reason="a long reason " * 8)
    sign_in(page, admin.email)
    page.goto(f"/t/{tenant.slug}/permissions?user={bob.id}")
    expect(page.get_by_role("heading", name="Effective permissions of bob.the.manager@example.com")).to_be_visible()
    # Nothing is cut off: the matrix and the rules are stacked rows, not a table to scroll sideways.
    assert page.locator(".perm-matrix").evaluate(FITS)
    assert page.locator(".perm-rules .table-responsive").evaluate(FITS)
    row = page.locator("#cell-settings-manage")
    expect(row).to_contain_text("Denied")
    expect(row.get_by_role("link", name="Why?")).to_be_visible()
    htmx_ready(page)
    row.get_by_role("link", name="Why?").press("Enter")  # (a tap leaves a hover that fades while axe-core looks)
    expect(page.locator("#perm-why")).to_contain_text(f"DENY rule #{rule.id}")
    heading = page.locator("#why-title")
    expect(heading).to_be_focused()
    _comes_into_view(page, "why-title")
    # Scrolling is smooth (Bootstrap): once it has settled, the heading is still in sight.
    page.wait_for_timeout(300)
    assert heading.evaluate(IN_VIEW), "the panel's heading scrolled off"
    check_page(page, page_errors)  # after the swap too: axe-core, and no sideways scroll


def test_the_time_zone_is_searched_and_saved(page, signed_in):
    _, tenant = signed_in(Role.OWNER, "owner@example.com")
    page.goto(f"/t/{tenant.slug}/settings")
    field = page.get_by_label("Time zone")
    expect(field).to_have_value("America/Sao_Paulo")
    assert field.get_attribute("list") == "timezone-options"
    assert page.locator("#timezone-options option[value='Europe/Lisbon']").count() == 1
    field.fill("Europe/Lisbon")
    page.locator("#settings-general").get_by_role("button", name="Save").click()
    expect(page.locator("#settings-general").get_by_role("status")).to_have_text("Settings saved.")
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).timezone == "Europe/Lisbon"


def test_the_time_zone_is_saved_without_javascript(page_without_js, member_of, create_tenant):
    owner, tenant = member_of(Role.OWNER, tenant=create_tenant(default_locale="en"), email="owner@example.com")
    page = page_without_js
    sign_in(page, owner.email)
    page.goto(f"/t/{tenant.slug}/settings")
    page.get_by_label("Time zone").fill("Asia/Tokyo")
    page.locator("#settings-general").get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/settings#section-general$"))
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).timezone == "Asia/Tokyo"
