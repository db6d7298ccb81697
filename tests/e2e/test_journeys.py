"""Main journeys in a real browser: sign in, land, switch tenant, sign out; save tenant settings through htmx;
one language before and after sign-in; the shell without JavaScript and on a phone.

Tenants are created with default_locale="en" and the browser asks for English, so the strings below
hold whatever translations exist.
"""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import htmx_ready, rows, same_document, sign_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for browser tests",
                             ).expect


def test_lands_on_the_owned_then_the_last_tenant_and_switching_keeps_the_page(page, page_errors, create_tenant,
                                                                             create_user):
    acme = create_tenant(slug="acme", name="Acme Admins", default_locale="en")
    demo = create_tenant(slug="demo", name="Demo Owners", default_locale="en")
    user = create_user("multi@example.com", tenant=demo, role=Role.OWNER)
    db.session.add(Membership(tenant_id=acme.id, user_id=user.id, role=Role.ADMIN))
    db.session.commit()

    # The first visit goes to sign-in without a reproach: nothing has happened yet.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2F$"))
    expect(page.locator("#flashes")).to_be_empty()
    sign_in(page, "multi@example.com")

    # Lands on the tenant the person owns, though Acme comes first by name.
    expect(page).to_have_url(re.compile(r"/t/demo/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo Owners")
    expect(page.get_by_text("Your role here: owner")).to_be_visible()

    # Switching tenant from the settings page opens the settings of the other tenant.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/t/demo/settings$"))
    switcher = page.locator("#tenant-switcher")
    expect(switcher).to_contain_text("Demo Owners")
    switcher.click()
    menu = page.locator("#tenant-menu")
    expect(menu).to_be_visible()
    menu.get_by_role("link", name=re.compile("Acme Admins")).click()
    expect(page).to_have_url(re.compile(r"/t/acme/settings$"))
    expect(switcher).to_contain_text("Acme Admins")

    # The logo goes to the current tenant, not to the first one.
    page.get_by_role("link", name="Hubx Access").click()
    expect(page).to_have_url(re.compile(r"/t/acme/$"))

    # Sign out through the user menu; signing in again lands on the tenant used last, and so does `/`.
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.get_by_role("status").filter(has_text="You have signed out.")).to_be_visible()
    expect(page.locator("#user-menu")).to_have_count(0)
    page.goto("/t/demo/")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))  # signed out for real
    sign_in(page, "multi@example.com")  # (sign_in opens the sign-in page afresh: no `next`)
    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/t/acme/$"))

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
    # A field resized by hand carries a style attribute; the swap must not copy it (CSP: style-src 'self').
    page.evaluate("() => { document.getElementById('name').style.width = '90%' }")
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

    # The top bar says the new name at once, and still marks the page the person is on.
    expect(page.locator("#current-tenant-name")).to_have_text("Renamed Corp")
    expect(page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Settings")
           ).to_have_attribute("aria-current", "page")

    db.session.expire_all()
    assert db.session.get(Tenant, tenant_id).name == "Renamed Corp"

    assert page_errors.all() == []


def test_the_language_chosen_before_sign_in_is_kept_everywhere(page, page_errors, create_tenant, create_user):
    from app.users.models import User

    tenant = create_tenant(slug="acme", name="Acme", default_locale="en")
    create_user("ana@example.com", tenant=tenant, role=Role.MEMBER)

    # An English browser; Portuguese chosen on the sign-in page (the selector submits on change).
    page.goto("/auth/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Language").select_option("pt_BR")
    expect(page.get_by_role("heading", name="Entrar")).to_be_visible()
    page.get_by_label("E-mail").fill("ana@example.com")
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()

    # Still Portuguese after sign-in, in an English tenant, on its pages and on an error page outside it.
    expect(page).to_have_url(re.compile(r"/t/acme/$"))
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page.get_by_role("link", name="Painel")).to_be_visible()
    page.goto("/t/no-such-tenant/")
    expect(page.get_by_role("heading", level=1)).to_have_text("A página solicitada não existe.")
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("API do Hubx Access")
    rows_ = [u for u in rows(User) if u.email == "ana@example.com"]
    assert rows_[0].profile.locale == "pt_BR"  # kept on the profile: every browser signed in as Ana speaks it

    # Signed out: the sign-in page keeps speaking it.
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page.get_by_role("heading", name="Entrar")).to_be_visible()
    assert page_errors.all() == []


def _fail_sign_in(page):
    """Sign in with an unknown email; the error summary the page answers with."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_contain_text("Sign-in failed")
    return summary


def test_failed_submits_move_focus_to_the_error_summary(page, page_errors, signed_in):
    # A whole page: the sign-in refused.
    summary = _fail_sign_in(page)
    expect(summary).to_be_focused()

    # An htmx answer: the settings section refused in place.
    _, tenant = signed_in(Role.ADMIN, "admin@example.com")
    page.goto(f"/t/{tenant.slug}/settings")
    htmx_ready(page)
    general = page.locator("#section-general")
    general.get_by_label("Name").fill("")
    general.get_by_role("button", name="Save").click()
    summary = general.locator("[data-error-summary]")
    expect(summary).to_contain_text("Some fields need attention.")
    expect(summary).to_be_focused()
    assert same_document(page)
    assert page_errors.all() == []


def test_without_javascript_the_error_summary_takes_the_focus_too(page_without_js, page_errors):
    page = page_without_js
    summary = _fail_sign_in(page)
    expect(summary).to_be_focused()  # the summary's autofocus: no script needed
    assert page_errors.all() == []


def test_a_double_click_sends_one_request(page, page_errors, create_tenant, create_user):
    tenant = create_tenant(default_locale="en")
    create_user("admin@example.com", tenant=tenant, role=Role.ADMIN)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    # A plain form: sign-in.
    page.goto("/auth/login")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").dblclick()
    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/$"))
    assert [u for u in posts if u.endswith("/auth/login")] == [page.url.split("/t/")[0] + "/auth/login"]

    # An htmx form: the button is disabled while its request is in flight, and enabled again after it.
    page.goto(f"/t/{tenant.slug}/settings")
    htmx_ready(page)
    general = page.locator("#section-general")
    general.get_by_label("Name").fill("Twice Clicked")
    general.get_by_role("button", name="Save").dblclick()
    expect(general.get_by_role("status")).to_have_text("Settings saved.")
    expect(general.get_by_role("button", name="Save")).to_be_enabled()
    assert len([u for u in posts if u.endswith("/settings/general")]) == 1
    assert page_errors.all() == []


def test_the_shell_works_without_javascript(page_without_js, page_errors, create_tenant, create_user):
    page = page_without_js
    tenant = create_tenant(slug="acme", name="Acme", default_locale="en")
    create_user("admin@example.com", tenant=tenant, role=Role.ADMIN)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "admin@example.com")
    expect(page).to_have_url(re.compile(r"/t/acme/$"))

    # On a phone without scripts the navigation is laid out open, and the toggler that needs a script is absent.
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Settings")).to_be_visible()
    expect(page.locator(".navbar-toggler")).to_be_hidden()

    # Settings save as a plain form: post, redirect, the saved page.
    nav.get_by_role("link", name="Settings").click()
    page.locator("#section-general").get_by_label("Name").fill("Acme Renamed")
    page.locator("#section-general").get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/t/acme/settings#section-general$"))
    expect(page.locator("#current-tenant-name")).to_have_text("Acme Renamed")

    # The user menu opens and signs out without JavaScript.
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.get_by_role("status").filter(has_text="You have signed out.")).to_be_visible()
    assert page_errors.all() == []


def test_the_shell_on_a_phone(phone, page_errors, create_tenant, create_user):
    tenant = create_tenant(slug="acme", name="Acme Corporation With A Long Name", default_locale="en")
    create_user("someone.with.a.long.address@example.com", tenant=tenant, role=Role.OWNER)
    sign_in(phone, "someone.with.a.long.address@example.com")
    expect(phone).to_have_url(re.compile(r"/t/acme/$"))

    # Scripts run: the toggler is shown (js-only) and opens the navigation.
    toggler = phone.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    settings = phone.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Settings")
    expect(settings).to_be_hidden()
    toggler.click()
    settings.click()
    expect(phone).to_have_url(re.compile(r"/t/acme/settings$"))
    phone.goto("/t/acme/no-such-page")
    phone.goto("/api/v1/docs")
    assert page_errors.all() == []  # each page was checked for sideways scroll and axe findings as it loaded
