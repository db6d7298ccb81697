"""A database outage answers 503 with Retry-After (problem+json for the API and JSON clients, a page in the
person's language for people), keeps nothing half-written, and the app recovers by itself once the database is
back: PostgreSQL behind a proxy the tests stop and start, SQLite with its write lock held by another connection,
and the handler on its own."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time

import pytest
from flask import flash, redirect, request
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.core.ratelimit import limiter
from app.extensions import db
from app.tenants.models import Tenant
from app.tokens import usage
from app.tokens.models import ApiToken, TokenUsageLog
from app.tokens.services import create_token
from app.users.models import Role
from tests.conftest import Auth, Client, make_app

TITLE = "The service is briefly unavailable. Try again in a few seconds."
TITLE_PT = "O serviço está indisponível por um instante. Tente novamente em alguns segundos."
ME = "/api/v1/me"
TOKENS = "/api/v1/tokens"


def assert_unavailable(response, *, json: bool) -> None:
    """503, Retry-After, and the format the client asked for."""
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.headers["Retry-After"] == "5"
    if json:
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["status"] == 503 and body["code"] == "database_unavailable" and body["title"] == TITLE
    else:
        assert response.mimetype == "text/html"
        assert TITLE in response.get_data(as_text=True)


def _settings(name: str, timezone: str = "UTC", locale: str = "en") -> dict:
    return {"name": name, "timezone": timezone, "default_locale": locale}


def _settings_changes(tenant_id: int) -> list:
    db.session.expire_all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tenant.settings_changed",
                                                         AuditEvent.tenant_id == tenant_id)
                                .order_by(AuditEvent.id).execution_options(all_tenants=True))
    return [event.details["changes"]["name"] for event in events]


def _wait_for(condition, what: str, deadline: float = 30.0) -> None:
    """Wait for another thread to do something (no timing is asserted: the deadline only ends a hung test)."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def _other_app(database_url: str, instance_path, **overrides):
    """A second app (its own engine and pool), disposed afterwards; the shared limiter is put back."""
    saved_limiter = dict(limiter.__dict__)
    other = make_app(database_url, instance_path, **overrides)
    try:
        yield other
    finally:
        buffer = other.extensions[usage.EXTENSION_KEY]
        buffer.stop()
        with contextlib.suppress(Exception):  # rows whose tokens are already gone are dropped by the writer
            buffer.flush()
        with other.app_context():
            db.engine.dispose()
        limiter.__dict__.update(saved_limiter)


# ---------------------------------------------------------------- the handler on its own


def _outage_error() -> OperationalError:
    return OperationalError("SELECT id FROM api_token WHERE digest = %(digest)s", {"digest": "s3cr3t-digest"},
                            ConnectionRefusedError("connection refused"))


@pytest.fixture
def raising_app(app, database_url, instance_path):
    """An app whose test routes meet a database outage in the view, in the commit, and in a hook."""
    with _other_app(database_url, instance_path, PROPAGATE_EXCEPTIONS=False) as other:

        @other.get("/api/v1/_test/db-down")
        def api_db_down():
            raise _outage_error()

        @other.get("/_test/db-down")
        def page_db_down():
            raise _outage_error()

        @other.post("/_test/saves")
        def saves():
            db.session.execute(text("SELECT 1"))
            flash("Saved.", "success")
            return redirect("/auth/login")

        @other.get("/_test/hook-fails")
        def hook_fails():
            return "ok"

        @other.after_request
        def _failing_hook(response):
            if request.path == "/_test/hook-fails":
                raise _outage_error()
            return response

        yield other


def test_api_gets_problem_json_and_the_log_has_no_statement(raising_app, caplog):
    response = Client(raising_app.test_client()).get("/api/v1/_test/db-down")
    assert_unavailable(response, json=True)
    assert response.headers["X-Request-ID"] and response.headers["Content-Security-Policy"]
    warnings = [r for r in caplog.records if r.name == "app.core.errors" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    line = warnings[0].getMessage()
    assert "database unavailable" in line and "ConnectionRefusedError: connection refused" in line
    assert "s3cr3t" not in caplog.text and "api_token" not in caplog.text


def test_page_gets_an_html_page_and_json_clients_problem_json(raising_app):
    browser = Client(raising_app.test_client())
    page = browser.get("/_test/db-down")
    assert_unavailable(page, json=False)
    assert "<html" in page.get_data(as_text=True) and page.headers["Cache-Control"] == "no-store"
    fragment = browser.get("/_test/db-down", headers={"HX-Request": "true"})
    assert_unavailable(fragment, json=False)
    assert "<html" not in fragment.get_data(as_text=True)
    assert_unavailable(browser.get("/_test/db-down", headers={"Accept": "application/json"}), json=True)


def test_page_speaks_the_persons_language(raising_app, member_of):
    anonymous = Client(raising_app.test_client())
    body = anonymous.get("/_test/db-down", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert TITLE_PT in body and '<html lang="pt-BR">' in body
    # Signed in: the person's own choice, read before the rollback expires what the request loaded.
    user, _tenant = member_of(Role.MEMBER)
    user.profile.locale = "pt_BR"
    db.session.commit()
    browser = Client(raising_app.test_client())
    Auth(browser).login(user)
    response = browser.get("/_test/db-down", headers={"Accept-Language": "en"})
    assert response.status_code == 503 and TITLE_PT in response.get_data(as_text=True)


def test_a_failed_commit_answers_503_instead_of_the_views_answer(raising_app, monkeypatch):
    browser = Client(raising_app.test_client())
    browser.token()

    def lost(_session):
        raise _outage_error()

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", lost)
        response = browser.post("/_test/saves")
    assert_unavailable(response, json=False)
    assert "Location" not in response.headers  # not the view's redirect
    # The other after-request hooks decorated the replacement too.
    assert "nonce-" in response.headers["Content-Security-Policy"] and response.headers["X-Request-ID"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Saved." not in response.get_data(as_text=True)
    assert "Saved." not in browser.get("/auth/login").get_data(as_text=True)  # the flash went with the write


def test_an_error_in_a_hook_arrives_wrapped_and_still_answers_503(raising_app):
    assert_unavailable(Client(raising_app.test_client()).get("/_test/hook-fails"), json=False)


# ---------------------------------------------------------------- SQLite: the write lock held elsewhere


@contextlib.contextmanager
def write_lock(database_url: str):
    """Hold SQLite's write lock from another connection, as another process would."""
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


@pytest.fixture
def sqlite_url(database_url) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    return database_url


@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_sqlite_lock_timeout_on_a_form_answers_503_then_the_save_succeeds(sqlite_url, client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    tenant_id, slug, before = tenant.id, tenant.slug, tenant.name
    auth.login(user)
    assert client.get(f"/t/{slug}/settings").status_code == 200
    with write_lock(sqlite_url):
        response = client.post(f"/t/{slug}/settings/general", _settings("Locked out"))
        assert_unavailable(response, json=False)
    db.session.expire_all()
    assert db.session.get(Tenant, tenant_id).name == before and _settings_changes(tenant_id) == []
    response = client.post(f"/t/{slug}/settings/general", _settings("Saved later"))
    assert response.status_code == 302
    assert _settings_changes(tenant_id) == [[before, "Saved later"]]


@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_sqlite_lock_timeout_on_the_api_answers_503_then_the_create_succeeds(sqlite_url, client, member_of):
    user, tenant = member_of(Role.ADMIN)
    secret = create_token(None, tenant, user, name="t", scope="write").secret
    db.session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    count = lambda: db.session.scalar(select(func.count()).select_from(ApiToken)  # noqa: E731
                                      .execution_options(all_tenants=True))
    with write_lock(sqlite_url):
        response = client.open("post", TOKENS, json={"name": "during", "scope": "read"}, headers=bearer)
        assert_unavailable(response, json=True)
    assert count() == 1
    response = client.open("post", TOKENS, json={"name": "after", "scope": "read"}, headers=bearer)
    assert response.status_code == 201, response.get_json()
    assert count() == 2
    usage.flush()


# ---------------------------------------------------------------- PostgreSQL behind a proxy that stops


class TcpProxy:
    """A loopback TCP proxy to the database. stop() refuses new connections and cuts the open ones (the
    database gone, as the app sees it); start() listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(32)
        self.port = server.getsockname()[1]
        with self._lock:
            self._server = server
        threading.Thread(target=self._accept, args=(server,), name="db-proxy", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            sockets, self._sockets = self._sockets, set()
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the proxy's thread
            server.close()
        for sock in sockets:
            _cut(sock)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _cut(client)
                continue
            with self._lock:
                if self._server is not server:  # stopped meanwhile
                    _cut(client)
                    _cut(upstream)
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _cut(source)
            _cut(sink)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def outage(request, app, database_url, instance_path):
    """(app, proxy): an app whose database connections go through `proxy`; parametrize indirectly with a dict
    of config overrides."""
    url = make_url(database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    overrides = getattr(request, "param", None) or {}
    try:
        with _other_app(proxied, instance_path, **overrides) as other:

            @other.get("/_test/rename-then-lose-the-database/<int:tenant_id>")
            def rename_then_lose_the_database(tenant_id: int):
                db.session.get(Tenant, tenant_id).name = "Half written"
                db.session.flush()
                proxy.stop()  # the database goes away before the request commits
                return "renamed"

            try:
                yield other, proxy
            finally:
                if not proxy.running:
                    proxy.start()  # so the app's usage rows can be written before it is disposed
    finally:
        proxy.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("outage", [{}, {"DATABASE_PING_AFTER_IDLE_SECONDS": 0},
                                    {"DATABASE_PING_AFTER_IDLE_SECONDS": -1}],
                         ids=["ping_after_idle", "ping_every_checkout", "no_ping"], indirect=True)
def test_postgres_outage_answers_503_and_the_app_recovers(outage, member_of):
    proxied, proxy = outage
    user, tenant = member_of(Role.ADMIN)
    secret = create_token(None, tenant, user, name="t", scope="read").secret
    db.session.commit()
    tenant_id, slug, first_name = tenant.id, tenant.slug, tenant.name
    browser, api = Client(proxied.test_client()), Client(proxied.test_client())
    Auth(browser).login(user)
    bearer = {"Authorization": f"Bearer {secret}"}
    dashboard, form = f"/t/{slug}/", f"/t/{slug}/settings/general"

    assert browser.get(dashboard).status_code == 200
    assert browser.post(form, _settings("Before")).status_code == 302
    assert api.get(ME, headers=bearer).status_code == 200

    proxy.stop()
    assert_unavailable(browser.get(dashboard), json=False)
    assert_unavailable(browser.post(form, _settings("During")), json=False)
    assert_unavailable(api.get(ME, headers=bearer), json=True)
    assert_unavailable(browser.get(dashboard, headers={"Accept": "application/json"}), json=True)
    assert browser.get("/readyz").status_code == 503

    proxy.start()  # the same app, not rebuilt; the person is still signed in
    assert browser.get(dashboard).status_code == 200
    assert browser.post(form, _settings("After")).status_code == 302
    assert api.get(ME, headers=bearer).get_json()["tenant"]["slug"] == slug
    assert _settings_changes(tenant_id) == [[first_name, "Before"], ["Before", "After"]]


@pytest.mark.postgres
@pytest.mark.parametrize(("outage", "answers"), [({"DATABASE_PING_AFTER_IDLE_SECONDS": 0}, [200, 200]),
                                                 ({"DATABASE_PING_AFTER_IDLE_SECONDS": 3600}, [503, 200])],
                         ids=["idle_connections_checked", "busy_connections_not_checked"], indirect=["outage"])
def test_postgres_restart_between_requests_costs_at_most_one_request(outage, answers, member_of):
    """The pooled connections die with the restart. One idle longer than DATABASE_PING_AFTER_IDLE_SECONDS is
    checked and replaced before use; a busy one is not checked (no round trip per request), so the first page
    request meets a dead one, answers 503, and the pool is recycled: the next request succeeds."""
    proxied, proxy = outage
    user, tenant = member_of(Role.ADMIN)
    browser = Client(proxied.test_client())
    Auth(browser).login(user)
    assert browser.get(f"/t/{tenant.slug}/").status_code == 200
    proxy.stop()
    proxy.start()
    assert [browser.get(f"/t/{tenant.slug}/").status_code for _ in answers] == answers


@pytest.mark.postgres
@pytest.mark.parametrize("outage", [{"DATABASE_PING_AFTER_IDLE_SECONDS": -1}], indirect=True)
def test_postgres_restart_between_api_requests_costs_no_request(outage, member_of):
    """The token check's read is repeated once on a fresh connection when its pooled one was dropped, so a
    restart between API requests is not seen by clients, even with no check of idle connections at all."""
    proxied, proxy = outage
    user, tenant = member_of(Role.ADMIN)
    secret = create_token(None, tenant, user, name="t", scope="read").secret
    db.session.commit()
    api = Client(proxied.test_client())
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get(ME, headers=bearer).status_code == 200
    proxy.stop()
    proxy.start()
    assert [api.get(ME, headers=bearer).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.postgres
def test_postgres_lost_mid_request_keeps_nothing_of_it(outage, member_of):
    proxied, proxy = outage
    _user, tenant = member_of(Role.ADMIN)
    tenant_id, name = tenant.id, tenant.name
    browser = Client(proxied.test_client())
    response = browser.get(f"/_test/rename-then-lose-the-database/{tenant_id}")
    assert_unavailable(response, json=False)
    proxy.start()
    db.session.expire_all()
    assert db.session.get(Tenant, tenant_id).name == name
    assert browser.get("/readyz").status_code == 200  # the dropped connection did not stay in the pool


@pytest.mark.postgres
@pytest.mark.parametrize("outage", [{"TOKEN_USAGE_FLUSH_SECONDS": 3600}], indirect=True)
def test_postgres_outage_usage_writer_keeps_its_rows_and_survives(outage, member_of, caplog):
    proxied, proxy = outage
    user, tenant = member_of(Role.ADMIN)
    issued = create_token(None, tenant, user, name="t", scope="read")
    db.session.commit()
    token_id = issued.token.id
    writer = proxied.extensions[usage.EXTENSION_KEY]
    written = lambda: db.session.scalar(select(func.count()).select_from(TokenUsageLog)  # noqa: E731
                                        .where(TokenUsageLog.token_id == token_id)
                                        .execution_options(all_tenants=True))

    assert Client(proxied.test_client()).get(ME, headers={"Authorization": f"Bearer {issued.secret}"}) \
        .status_code == 200
    assert len(writer.rows) == 1  # buffered; the writer wakes hourly or when woken

    proxy.stop()
    writer.wake.set()
    _wait_for(lambda: writer.failures == 1, "the writer's attempt during the outage")
    assert writer.thread.is_alive() and len(writer.rows) == 1
    failures = [r for r in caplog.records if r.name == "app.tokens.usage"]
    assert len(failures) == 1 and failures[0].levelname == "WARNING" and failures[0].exc_info is None

    proxy.start()
    writer.wake.set()
    _wait_for(lambda: db.session.rollback() or written() == 1, "the writer's retry after the outage")
    assert writer.thread.is_alive() and writer.rows == [] and writer.failures == 1
