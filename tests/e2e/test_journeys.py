"""Main journeys in a real browser: sign in, switch tenant, sign out; save tenant settings through htmx.

Tenants are created with default_locale="en" and the browser asks for English, so the strings below
hold whatever translations exist.
"""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Role
from tests.e2e.conftest import htmx_ready, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_sign_in_switch_tenant_and_sign_out(page, page_errors, create_tenant, create_user):
    acme = create_tenant(slug="acme", name="Acme Admins", default_locale="en")
    beta = create_tenant(slug="beta", name="Beta Members", default_locale="en")
    user = create_user("multi@example.com", tenant=acme, role=Role.ADMIN)
    db.session.add(Membership(tenant_id=beta.id, user_id=user.id, role=Role.MEMBER))
    db.session.commit()

    sign_in(page, "multi@example.com")

    # Home sends the user to their first tenant (by name): Acme, where they are admin.
    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Admins")
    expect(page.get_by_text("Your role here: admin")).to_be_visible()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()  # admins see settings

    # Tenant switcher in the navbar (a Bootstrap dropdown: needs the bundle JS to run under the CSP).
    switcher = page.locator("#tenant-switcher")
    expect(switcher).to_contain_text("Acme Admins")
    switcher.click()
    menu = page.locator('[aria-labelledby="tenant-switcher"]')
    expect(menu).to_be_visible()
    menu.get_by_role("link", name="Beta Members").click()

    expect(page).to_have_url(re.compile(r"/t/beta/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Beta Members")
    expect(page.get_by_text("Your role here: member")).to_be_visible()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)  # members do not
    expect(switcher).to_contain_text("Beta Members")

    # Sign out through the user menu.
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()

    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.get_by_role("status").filter(has_text="You have signed out.")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#user-menu")).to_have_count(0)

    # Signed out for real: a tenant page asks for sign-in again.
    page.goto("/t/beta/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))

    assert page_errors.all() == []


def test_admin_saves_settings_with_htmx_without_reload(page, page_errors, signed_in):
    _, tenant = signed_in(Role.ADMIN, "admin@example.com")
    slug, tenant_id, old_name = tenant.slug, tenant.id, tenant.name

    expect(page.get_by_role("heading", level=1)).to_have_text(old_name)

    page.goto(f"/t/{slug}/settings")
    general = page.locator("#section-general")
    expect(general.get_by_role("heading", name="General")).to_be_visible()
    # htmx must have loaded and processed the form (a CSP block would leave it a plain form).
    htmx_ready(page)

    name = general.get_by_label("Name")
    name.fill("Renamed Corp")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/settings/general")) as sent:
        general.get_by_role("button", name="Save").click()

    expect(general.get_by_role("status")).to_have_text("Settings saved.")
    expect(general.get_by_label("Name")).to_have_value("Renamed Corp")

    # The same document: htmx swapped the form, the page did not reload or navigate.
    assert same_document(page)
    assert page.url.endswith(f"/t/{slug}/settings")

    # htmx sent the request, with the CSRF header inherited from <body>.
    headers = sent.value.all_headers()
    assert headers.get("hx-request") == "true"
    assert headers.get("x-csrftoken"), "htmx sent no X-CSRFToken header (hx-headers:inherited on <body>)"
    page_token = page.locator("footer input[name=csrf_token]").get_attribute("value")
    assert headers["x-csrftoken"] == page_token

    db.session.expire_all()
    assert db.session.get(Tenant, tenant_id).name == "Renamed Corp"

    assert page_errors.all() == []
