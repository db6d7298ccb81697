"""API tokens in a real browser: create one with htmx, see it once and copy it, open its page, revoke it
after the confirmation dialog; and the same pages on a phone-sized screen."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import Role
from tests.e2e.conftest import htmx_ready, page_width, rows, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_create_copy_open_and_revoke_a_token(page, page_errors, live_server, signed_in):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _, tenant = signed_in(Role.MEMBER, "dev@example.com")
    slug = tenant.slug

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/tokens$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    htmx_ready(page)

    # Create: htmx swaps the form for the one-time reveal and refreshes the list in place.
    form = page.locator("#create-form")
    form.get_by_label("Name").fill("Nightly backup")
    form.get_by_label("Scope").select_option("read")
    form.get_by_role("button", name="Create token").click()
    secret_field = page.get_by_label(re.compile("Token “Nightly backup”"))
    expect(secret_field).to_be_visible()
    expect(secret_field).to_have_attribute("readonly", "")
    expect(secret_field).to_be_focused()  # autofocus: keyboard and screen-reader users land on it
    expect(page.locator("#token-reveal")).to_contain_text("It will not be shown again")
    secret = secret_field.input_value()
    assert re.fullmatch(r"hbx_p_[0-9A-Za-z]{36}", secret)
    expect(page.locator("#tokens-list")).to_contain_text("Nightly backup")
    assert same_document(page)  # no reload

    # Copy: the clipboard holds the secret and a live region says so.
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#token-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    assert page.evaluate("() => document.activeElement.id") == "token-secret"

    # Done: the form comes back, the secret is gone from the page.
    page.get_by_role("link", name="I have copied it").click()
    expect(page.locator("#create-form")).to_be_visible()
    assert secret not in page.content()

    # The token's page: details, the usage chart, the limits form; never the secret.
    [token] = rows(ApiToken)
    page.locator("#tokens-list").get_by_role("link", name="Nightly backup").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/tokens/{token.id}$"))
    expect(page.locator("#token-status")).to_contain_text("Active")
    expect(page.get_by_role("img", name=re.compile("Requests per day"))).to_be_visible()
    assert secret not in page.content()

    # Revoke: the browser asks first; dismissing keeps the token, accepting revokes it in place.
    page.wait_for_function("() => window.htmx !== undefined")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#token-status")).to_contain_text("Active")
    assert rows(ApiToken)[0].revoked_at is None
    page.get_by_label("Reason (optional)").fill("Replaced by a new backup host")
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#token-detail").get_by_role("status").first).to_contain_text("Token “Nightly backup” revoked.")
    expect(page.locator("#token-status")).to_contain_text("Revoked")
    assert messages and "This cannot be undone." in messages[0]
    assert rows(ApiToken)[0].revoke_reason == "Replaced by a new backup host"
    assert page_errors.all() == []


def test_token_pages_fit_a_phone(page, page_errors, member_of, create_tenant):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"), email="admin@example.com")
    issued = services.create_token(None, tenant, admin, name="A token with a rather long name for a phone",
                                   scope="write", ip_allow=["10.0.0.0/8", "2001:db8::/32"])
    db.session.commit()
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, "admin@example.com")
    for path in (f"/t/{tenant.slug}/tokens", f"/t/{tenant.slug}/tokens/{issued.token.id}"):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width, _viewport = page_width(page)
        assert width <= 375, (path, width)  # nothing widens the page: tables scroll inside their box
    assert page_errors.all() == []
