"""Browser-test harness: the real app on a live threaded server, driven by Playwright and Debian's Chromium.

Every test here gets the `e2e` marker. Without Chromium (or without the `playwright` package) the
tests are skipped with a message that says what to install; Playwright's own browser download is
never used.
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
E2E_DIR = Path(__file__).resolve().parent
TIMEOUT_MS = 10_000  # auto-waiting ceiling for every locator and navigation


def _missing_requirement() -> str | None:
    if not Path(CHROMIUM_PATH).is_file():
        return (f"Chromium not found at {CHROMIUM_PATH}: install Debian's chromium "
                "(apt-get install -y chromium) to run browser tests, or set CHROMIUM_PATH")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]' to run browser tests"
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection, so `-m "not e2e"` sees the marker
def pytest_collection_modifyitems(config, items):
    reason = _missing_requirement()
    for item in items:
        if E2E_DIR not in item.path.resolve().parents:
            continue  # this hook sees the whole session's items, not only ours
        item.add_marker(pytest.mark.e2e)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str

    def __call__(self, path: str = "/") -> str:
        """Absolute URL of `path` on this server."""
        return self.url + path


@pytest.fixture
def live_server(app):
    """The test's app served on 127.0.0.1 (a free port) by a threaded werkzeug server in a daemon thread.

    The test holds an app context; each request runs in a fresh contextvars context so it gets its
    own app context, `g` and database session instead of sharing the test's.
    """
    def wsgi(environ, start_response):
        return contextvars.Context().run(app.wsgi_app, environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Debian Chromium for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS,
                                      downloads_path=str(tmp_path_factory.mktemp("downloads")))
        try:
            yield chromium
        finally:
            chromium.close()


# ---------------------------------------------------------------- the rules every journey keeps
# Every page fixture below watches its page, so every journey (this file's users included) fails on:
# - a console error (a CSP violation is one) or an uncaught exception; a refused request (4xx) is not one: forms
#   answer 422 or 409 on purpose, and Chromium logs each as "Failed to load resource";
# - a serious or critical axe-core finding, on every page loaded and on the page as the journey leaves it;
# - sideways scroll on a phone-sized viewport (PHONE_WIDTH, or any width up to 480 px).
PHONE_WIDTH = 390
AXE_IMPACTS = {"serious", "critical"}
_REFUSED = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d\b")


@dataclass
class PageErrors:
    """What went wrong on a journey's pages: console errors (CSP violations show up here), uncaught exceptions,
    axe-core findings and sideways scroll on a phone."""

    console: list[str] = field(default_factory=list)
    uncaught: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return ([f"console: {m}" for m in self.console] + [f"pageerror: {m}" for m in self.uncaught]
                + self.findings)


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def check_page(pg, errors: PageErrors, *, axe: bool = True) -> None:
    """axe-core on the page as it is now (serious and critical findings), and, on a phone, no sideways scroll.
    Run on every load and when a journey ends; a journey may call it after an in-page change it wants checked.
    (`axe=False` where scripts are off: axe-core's run never settles there; the same pages are checked with
    scripts on by the other journeys.)"""
    from playwright.sync_api import Error

    url = pg.url
    if not url.startswith("http"):
        return
    try:
        results = _axe().run(pg).response if axe else {}
        width, client = pg.evaluate(
            "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
    except Error:  # the page was left (a navigation) while it was being checked: the next page is checked
        return
    for violation in results.get("violations", []):
        if violation.get("impact") in AXE_IMPACTS:
            targets = ", ".join(" ".join(map(str, n.get("target", []))) for n in violation["nodes"][:3])
            finding = f"axe {violation['id']} ({violation['impact']}) on {url}: {violation['help']} [{targets}]"
            if finding not in errors.findings:
                errors.findings.append(finding)
    viewport = pg.viewport_size or {}
    if viewport.get("width", 10_000) <= 480 and width > client:
        errors.findings.append(f"sideways scroll on {url}: {width} px wide in a {client} px viewport")


def _watch(pg, errors: PageErrors, *, axe: bool = True) -> None:
    def console(msg):
        if msg.type == "error" and not _REFUSED.match(msg.text):
            errors.console.append(f"{msg.text} ({msg.location.get('url', '')})")

    pg.on("console", console)
    pg.on("pageerror", lambda exc: errors.uncaught.append(str(exc)))
    pg.on("load", lambda loaded: check_page(loaded, errors, axe=axe))


def _new_page(browser, live_server, errors: PageErrors, **options):
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        extra_http_headers={"Accept-Language": "en"},
        **{"viewport": {"width": 1280, "height": 900}, **options},  # wide enough for the expanded navbar
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    pg = context.new_page()
    _watch(pg, errors, axe=options.get("java_script_enabled", True))
    return context, pg


def _finish(context, pg, errors: PageErrors, *, scripts: bool = True) -> None:
    try:
        if not pg.is_closed():
            check_page(pg, errors, axe=scripts)
    finally:
        context.close()
    if errors.all():
        pytest.fail("the journey's pages broke the UI rules (tests/e2e/conftest.py):\n  " + "\n  ".join(errors.all()),
                    pytrace=False)


@pytest.fixture
def page(browser, live_server, page_errors):
    """A fresh context and page per test, in English, pointed at the live server, held to the UI rules above.

    Closed before the live server stops and before the database is emptied.
    """
    context, pg = _new_page(browser, live_server, page_errors)
    yield pg
    _finish(context, pg, page_errors)


@pytest.fixture
def phone(browser, live_server, page_errors):
    """The same on a phone: 390 px wide, touch; no page may scroll sideways."""
    context, pg = _new_page(browser, live_server, page_errors,
                            viewport={"width": PHONE_WIDTH, "height": 844}, is_mobile=True, has_touch=True)
    yield pg
    _finish(context, pg, page_errors)


@pytest.fixture
def page_without_js(browser, live_server, page_errors):
    """The same with JavaScript turned off: every action must still work."""
    context, pg = _new_page(browser, live_server, page_errors, java_script_enabled=False)
    yield pg
    _finish(context, pg, page_errors, scripts=False)


# ---------------------------------------------------------------- the journeys' shared set-up


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real sign-in page."""
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def signed_in(page, member_of, create_tenant):
    """signed_in(role, email) -> (user, tenant): a member with `role` of a new English tenant, signed in on `page`."""

    def _sign_in(role, email: str):
        user, tenant = member_of(role, tenant=create_tenant(default_locale="en"), email=email)
        sign_in(page, email)
        return user, tenant

    return _sign_in


def htmx_ready(page) -> None:
    """Wait until htmx runs on the page, and mark the document, so `same_document` can tell that later steps
    swapped parts of it instead of loading another one."""
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__marker = 1 }")


def same_document(page) -> bool:
    """True while the document marked by `htmx_ready` is still the one shown (no reload, no navigation)."""
    return page.evaluate("() => window.__marker") == 1


def rows(model) -> list:
    """Every row of `model` in every tenant, as the database holds it now (the live server wrote them)."""
    from sqlalchemy import select

    from app.extensions import db

    db.session.expire_all()
    return list(db.session.scalars(select(model).execution_options(all_tenants=True)))


def page_width(page) -> tuple[int, int]:
    """(the document's width, the viewport's width): a page that fits never scrolls sideways."""
    width, viewport = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    return width, viewport
