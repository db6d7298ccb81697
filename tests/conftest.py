"""Test fixtures: one app per session on SQLite (default) or PostgreSQL (`--db=postgres`), the schema
built by the real migrations, every table emptied after each test, callable factories and `auth.login()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.config import TestConfig
from app.core.ratelimit import limiter
from app.extensions import db
from app.permissions.resolver import cache
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User, UserStatus

PASSWORD = "correct horse battery staple"  # noqa: S105 (test credential)
_seq = itertools.count(1)


def pytest_addoption(parser):
    parser.addoption("--db", choices=["sqlite", "postgres"], default="sqlite",
                     help="database backend for the suite (postgres needs TEST_DATABASE_URL)")


def pytest_configure(config):
    if config.getoption("--db") == "postgres" and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("--db=postgres needs TEST_DATABASE_URL")


def pytest_collection_modifyitems(config, items):
    backend = config.getoption("--db")
    for item in items:
        if "postgres" in item.keywords and backend != "postgres":
            item.add_marker(pytest.mark.skip(reason="PostgreSQL test: run with --db=postgres (make test does "
                                                    "when TEST_DATABASE_URL is set)"))
        if "redis" in item.keywords and not os.environ.get("TEST_REDIS_URL"):
            item.add_marker(pytest.mark.skip(reason="needs TEST_REDIS_URL (real Redis)"))


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory) -> str:
    if request.config.getoption("--db") == "postgres":
        return os.environ["TEST_DATABASE_URL"]
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("instance")


def make_app(database_url: str, instance_path: Path, **overrides):
    """A test app on `database_url`; `overrides` win over TestConfig."""
    os.environ["HUBX_INSTANCE_PATH"] = str(instance_path)
    settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    settings["SQLALCHEMY_DATABASE_URI"] = database_url
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(scope="session")
def base_app(database_url, instance_path):
    app = make_app(database_url, instance_path)
    with app.app_context():
        _reset_schema(app)
    return app


def _reset_schema(app) -> None:
    """Drop everything, then build the schema with the real migrations."""
    from flask_migrate import upgrade

    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        else:
            db.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()


@pytest.fixture
def app(request, base_app, database_url, instance_path):
    """The session app, or a fresh one on the same database when a test says @pytest.mark.config(...)."""
    marker = request.node.get_closest_marker("config")
    # The limiter is one object shared by every app in the process; a test app with its own
    # settings re-binds its storage, so put the session app's back afterwards.
    saved_limiter = dict(limiter.__dict__)
    application = make_app(database_url, instance_path, **marker.kwargs) if marker else base_app
    with application.app_context():
        cache().clear()  # ids restart with the emptied tables; cached policies must not outlive them
        with contextlib.suppress(Exception):  # a test may point the limiter at a Redis that is down
            limiter.reset()
        yield application
        db.session.remove()
        _empty_tables()
    limiter.__dict__.update(saved_limiter)


def _empty_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


# ---------------------------------------------------------------- factories


@pytest.fixture
def create_tenant(app):
    """create_tenant(slug=None, name=None) -> Tenant (committed)."""

    def _create(slug: str | None = None, name: str | None = None, **fields) -> Tenant:
        n = next(_seq)
        fields.setdefault("default_locale", "en")  # tests read English; i18n tests ask for pt_BR
        tenant = Tenant(slug=slug or f"tenant-{n}", name=name or f"Tenant {n}", **fields)
        db.session.add(tenant)
        db.session.commit()
        return tenant

    return _create


@pytest.fixture
def create_user(app, create_tenant):
    """create_user(email=None, *, tenant=None, role=Role.MEMBER, status=active, password=PASSWORD) -> User."""
    from app.users.services import create_user as make_user

    def _create(email: str | None = None, *, tenant: Tenant | None = None, role: Role = Role.MEMBER,
                status: UserStatus = UserStatus.ACTIVE, password: str = PASSWORD, name: str = "") -> User:
        user = make_user(email or f"user{next(_seq)}@example.com", password, name=name, status=status)
        if tenant is not None:
            db.session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
        db.session.commit()
        return user

    return _create


@pytest.fixture
def member_of(create_user, create_tenant):
    """member_of(role=Role.MEMBER, tenant=None) -> (user, tenant): a user with a place in a tenant."""

    def _create(role: Role = Role.MEMBER, tenant: Tenant | None = None, **kwargs):
        tenant = tenant or create_tenant()
        return create_user(tenant=tenant, role=role, **kwargs), tenant

    return _create


@pytest.fixture
def add_rule(app):
    """add_rule(actor, tenant, subject, effect="deny", target="settings.*", **kw) -> PermissionRule (committed),
    made by the service acting as `actor` (a User); `kw` as `create_rule` takes them (reason, resource, ...)."""
    from app.core.actor import Actor
    from app.permissions.services import create_rule

    def _add(actor: User, tenant: Tenant, subject: User, effect: str = "deny", target: str = "settings.*", **kwargs):
        rule = create_rule(Actor(actor), tenant, user_id=subject.id, effect=effect, target=target, **kwargs)
        db.session.commit()
        return rule

    return _add


@pytest.fixture
def run(app):
    """run(*args) -> click Result of `flask <args>`."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


# ---------------------------------------------------------------- clients

_CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"')


class Client:
    """A test client that carries the CSRF token like a browser does.

    Each request runs in an empty contextvars context, so it gets its own app context and `g`
    instead of sharing the test's (Flask reuses an app context that is already pushed).
    """

    def __init__(self, flask_client):
        self.raw = flask_client
        self.raw.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # tests read English unless they ask
        self.csrf: str | None = None

    def open(self, method: str, url: str, **kwargs):
        call = getattr(self.raw, method)
        return self._remember(contextvars.Context().run(call, url, **kwargs))

    def _remember(self, response):
        if response.mimetype == "text/html":
            match = _CSRF_RE.search(response.get_data(as_text=True))
            if match:
                self.csrf = match.group(1) or match.group(2)
        return response

    def get(self, url, **kwargs):
        return self.open("get", url, **kwargs)

    def token(self) -> str:
        if self.csrf is None:
            self.get("/auth/login", follow_redirects=True)
        return self.csrf

    def nonce(self) -> str:
        """A fresh one-time form nonce, as a freshly rendered form carries (app/core/formnonce.py)."""
        from app.core.formnonce import issue

        def _issue() -> str:
            with self.raw.application.app_context():
                return issue()

        return contextvars.Context().run(_issue)

    def post(self, url, data=None, *, csrf: bool = True, nonce: bool = True, htmx: bool = False, headers=None,
             **kwargs):
        """POST like a browser sends a form it was shown: with the CSRF token and a fresh form nonce (pass
        `form_nonce` in `data` to send one again)."""
        data = dict(data or {})
        headers = dict(headers or {})
        if csrf:
            data.setdefault("csrf_token", self.token())
        if nonce:
            data.setdefault("form_nonce", self.nonce())
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.token()})
        return self.open("post", url, data=data, headers=headers, **kwargs)

    def __getattr__(self, name):
        return getattr(self.raw, name)


@pytest.fixture
def client(app) -> Client:
    return Client(app.test_client())


@pytest.fixture
def api(client):
    """api(method, path, secret=None, *, json=None, headers=None, **kw) -> response of the JSON API."""

    def _call(method: str, path: str, secret: str | None = None, *, json=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        if json is not None:
            kwargs["json"] = json
        return client.open(method.lower(), path, headers=headers, **kwargs)

    return _call


@pytest.fixture
def make_client(app):
    """make_client() -> a second, independent browser."""
    return lambda: Client(app.test_client())


class Auth:
    """Signs a client in and out through the real pages."""

    def __init__(self, client: Client):
        self.client = client

    def login(self, user_or_email, password: str = PASSWORD, client: Client | None = None):
        c = client or self.client
        email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
        c.csrf = None
        response = c.post("/auth/login", {"email": email, "password": password})
        assert response.status_code == 302, f"sign-in failed: {response.status_code}"
        c.csrf = None
        return response

    def logout(self, client: Client | None = None):
        c = client or self.client
        return c.post("/auth/logout")


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)
