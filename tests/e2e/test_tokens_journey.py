"""API tokens in a real browser: create one with htmx (a double click makes one), see it once and copy it, open
its page, rotate and revoke it after the confirmation dialog; the same without JavaScript (confirmation pages,
post/redirect/get, a reload creates nothing); filters and sort kept in the address; and the pages on a phone."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.tokens import services
from app.tokens.models import ApiToken, TokenUsageLog
from app.users.models import Role
from tests.e2e.conftest import htmx_ready, rows, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_create_copy_open_rotate_and_revoke_a_token(page, page_errors, live_server, signed_in):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _, tenant = signed_in(Role.MEMBER, "dev@example.com")
    slug = tenant.slug

    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/tokens$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    htmx_ready(page)

    # Every error at once, with a summary linking to each field.
    form = page.locator("#create-form")
    form.get_by_label("Expiration").select_option("custom")
    form.get_by_role("button", name="Create token").click()
    summary = page.locator("#create-form .alert-danger")
    expect(summary.get_by_role("link", name="Name")).to_be_visible()
    expect(summary.get_by_role("link", name=re.compile("Expiry day"))).to_be_visible()

    # Create: a double click makes one token; htmx swaps the form for the one-time reveal, the list refreshes.
    form.get_by_label("Name").fill("Nightly backup")
    form.get_by_label("Scope").select_option("read")
    expect(form.get_by_label("Expiration").locator("option[value='30']")).to_have_text(
        re.compile(r"^30 days, until \w+ \d+, \d{4}$"))
    form.get_by_label("Expiration").select_option("30")
    form.get_by_role("button", name="Create token").dblclick()
    secret_field = page.get_by_label(re.compile("Token “Nightly backup”"))
    expect(secret_field).to_be_visible()
    expect(secret_field).to_have_attribute("readonly", "")
    expect(secret_field).to_be_focused()  # autofocus: keyboard and screen-reader users land on it
    expect(page.locator("#token-reveal")).to_contain_text("It will not be shown again")
    secret = secret_field.input_value()
    assert re.fullmatch(r"hbx_p_[0-9A-Za-z]{36}", secret)
    expect(page.locator("#tokens-list")).to_contain_text("Nightly backup")
    assert same_document(page)  # no reload
    page.wait_for_timeout(300)
    assert len(rows(ApiToken)) == 1  # the double click made one token
    assert secret_field.input_value() == secret  # and the secret shown is that token's

    # Copy: the clipboard holds the secret and a live region says so.
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#token-copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    assert page.evaluate("() => document.activeElement.id") == "token-secret"

    # Done: the form comes back, the secret is gone, and the keyboard focus is on the form, not lost.
    page.get_by_role("link", name="I have copied it").click()
    expect(page.locator("#create-form")).to_be_visible()
    expect(page.locator("#new-name")).to_be_focused()
    assert secret not in page.content()

    # The token's page: details, the usage chart with its scale, the limits form; never the secret.
    [token] = rows(ApiToken)
    page.locator("#tokens-list").get_by_role("link", name="Nightly backup", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/t/{slug}/tokens/{token.id}$"))
    expect(page.locator("#token-status")).to_contain_text("Active")
    expect(page.get_by_role("img", name=re.compile("Requests per day"))).to_be_visible()
    assert secret not in page.content()

    # Rotate: the dialog asks; then the address is the new token's page, which shows its secret once.
    page.wait_for_function("() => window.htmx !== undefined")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rotate").click()
    expect(page.locator("#token-reveal")).to_contain_text("was rotated")
    successor = next(t for t in rows(ApiToken) if t.id != token.id)
    expect(page).to_have_url(re.compile(rf"/t/{slug}/tokens/{successor.id}$"))
    new_secret = page.locator("#token-secret").input_value()
    assert new_secret != secret and re.fullmatch(r"hbx_p_[0-9A-Za-z]{36}", new_secret)
    page.get_by_role("link", name="I have copied it").click()
    expect(page.locator("#token-reveal")).to_have_count(0)
    expect(page.locator("#details-title")).to_be_focused()
    expect(page.locator(".token-chain li")).to_have_count(2)

    # Revoke: the browser asks first; dismissing keeps the token, accepting revokes it in place.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#token-status")).to_contain_text("Active")
    assert all(t.revoked_at is None for t in rows(ApiToken))
    page.get_by_label("Reason (optional)").fill("Replaced by a new backup host")
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#token-detail").get_by_role("status").first).to_contain_text("Token “Nightly backup” revoked")
    expect(page.locator("#token-status")).to_contain_text("Revoked")
    assert messages and "This cannot be undone." in messages[0]
    assert {t.revoke_reason for t in rows(ApiToken)} == {"Replaced by a new backup host"}
    assert page_errors.all() == []


def test_without_javascript_every_action_asks_and_a_reload_repeats_nothing(page_without_js, page_errors, member_of,
                                                                           create_tenant):
    page = page_without_js
    member_of(Role.MEMBER, tenant=create_tenant(default_locale="en"), email="dev@example.com")
    sign_in(page, "dev@example.com")
    page.get_by_role("link", name="API tokens").first.click()
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()  # copying needs a script

    page.locator("#create-form").get_by_label("Name").fill("Cron job")
    page.locator("#create-form").get_by_role("button", name="Create token").click()
    # post/redirect/get: the address is the list's, the secret shown once
    expect(page).to_have_url(re.compile(r"/tokens$"))
    secret = page.locator("#token-secret").input_value()
    assert re.fullmatch(r"hbx_p_[0-9A-Za-z]{36}", secret) and secret not in page.url
    page.reload()
    expect(page.locator("#create-form")).to_be_visible()
    assert secret not in page.content() and len(rows(ApiToken)) == 1  # a reload creates nothing, shows nothing

    [token] = rows(ApiToken)
    row = page.locator(f"#token-{token.id}")
    row.get_by_role("link", name="Rotate token “Cron job”").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rotate token “Cron job”?")
    assert rows(ApiToken)[0].successor_id is None  # asking changed nothing
    page.get_by_role("button", name="Rotate token").click()
    successor = next(t for t in rows(ApiToken) if t.id != token.id)
    expect(page).to_have_url(re.compile(rf"/tokens/{successor.id}$"))  # a GET address, not .../rotate
    assert re.fullmatch(r"hbx_p_[0-9A-Za-z]{36}", page.locator("#token-secret").input_value())

    page.get_by_label("Reason (optional)").fill("Moved to a vault")
    page.get_by_role("button", name="Revoke").click()  # a GET to the page that asks
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke token “Cron job”?")
    expect(page.get_by_label("Reason (optional)")).to_have_value("Moved to a vault")
    assert all(t.revoked_at is None for t in rows(ApiToken))
    page.get_by_role("button", name="Revoke token").click()
    expect(page).to_have_url(re.compile(rf"/tokens/{successor.id}$"))
    expect(page.locator("#token-status")).to_contain_text("Revoked")
    assert {t.revoke_reason for t in rows(ApiToken)} == {"Moved to a vault"}
    assert page_errors.all() == []


def test_filters_and_sort_stay_in_the_address(page, page_errors, signed_in):
    user, tenant = signed_in(Role.ADMIN, "admin@example.com")
    for name in ("bravo", "alpha", "charlie"):
        services.create_token(None, tenant, user, name=name, scope="read")
    db.session.commit()
    page.goto(f"/t/{tenant.slug}/tokens")
    htmx_ready(page)
    page.get_by_label("Sort").select_option("name")
    expect(page).to_have_url(re.compile(r"[?&]sort=name"))
    expect(page.locator("#tokens-list .token-name").first).to_have_text("alpha")
    assert same_document(page)
    page.reload()
    expect(page.get_by_label("Sort")).to_have_value("name")
    expect(page.locator("#tokens-list .token-name")).to_have_text(["alpha", "bravo", "charlie"])
    assert page_errors.all() == []


def test_token_pages_fit_a_phone(phone, page_errors, member_of, create_tenant, create_user):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"), email="admin@example.com")
    owner = create_user("a.rather.long.address.for.a.phone@example.com", tenant=tenant, role=Role.MEMBER)
    issued = services.create_token(None, tenant, owner, name="A token with a rather long name for a phone",
                                   scope="read", ip_allow=["10.0.0.0/8", "2001:db8:1234:5678::/64"])
    services.create_token(None, tenant, admin, name="soon", scope="read", expires_in_days=2)
    db.session.add(TokenUsageLog(tenant_id=tenant.id, token_id=issued.token.id, occurred_at=issued.token.created_at,
                                 endpoint="GET /api/v1/tokens", outcome="ip_denied", status=403, correlation_id="c",
                                 ip="2001:db8:1234:5678:9abc:def0:1234:5678",
                                 user_agent="python-requests/2.32.3 (a long client name, on a phone)"))
    db.session.commit()
    sign_in(phone, "admin@example.com")
    phone.goto(f"/t/{tenant.slug}/tokens")
    row = phone.locator(f"#token-{issued.token.id}")
    for label in ("Owner", "Expires", "Last used"):
        expect(row.locator(f"td[data-label='{label}']")).to_be_visible()
    expect(row).to_contain_text("a.rather.long.address.for.a.phone@example.com")
    badge = phone.locator("#tokens-list .badge", has_text="soon")
    box, cell = badge.bounding_box(), badge.locator("xpath=ancestor::td").bounding_box()
    assert box["x"] >= cell["x"] and box["x"] + box["width"] <= cell["x"] + cell["width"] + 0.5  # not clipped
    assert box["x"] + box["width"] <= 390

    phone.goto(f"/t/{tenant.slug}/tokens/{issued.token.id}")
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    hint = phone.locator("h1 code")
    assert hint.bounding_box()["x"] + hint.bounding_box()["width"] <= 390  # wrapped, not cut off
    width = phone.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= 390, width
    # the recent requests keep addresses and clients on one line, scrolling inside their own box
    lines = "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length }"
    for text in ("2001:db8:1234:5678:9abc:def0:1234:5678", "python-requests/2.32.3 (a long client name, on a phone)"):
        assert phone.get_by_role("cell", name=text).evaluate(lines) == 1, text
    assert page_errors.all() == []
