"""Hubx Access: the admin portal and JSON API for every credential of the Hubx platform."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from app.api import register_api
from app.audit.labels import register_labels
from app.auth import reset_routes  # noqa: F401 (its views join the auth blueprint)
from app.auth import routes as auth_routes
from app.auth import settings as auth_settings
from app.config import Config, as_dict, check_shared_state, ensure_keys
from app.core.crypto import init_crypto
from app.core.db import DEFAULT_PING_AFTER_IDLE_SECONDS, register_idle_ping, register_request_transaction
from app.core.errors import database_unavailable, register_errors
from app.core.health import bp as health_bp
from app.core.http import pages_only, register_request_kinds
from app.core.i18n import init_i18n
from app.core.inputs import refuse_unstorable_page_input, register_converters
from app.core.ratelimit import limiter
from app.core.security import register_security
from app.core.web import register_templates, register_tenancy, register_tenant_reset
from app.extensions import csrf, db, login_manager, migrate
from app.invites import join as invite_join  # noqa: F401 (its views join the invites blueprint)
from app.invites import routes as invite_routes
from app.invites import ui as invite_ui  # noqa: F401 (its views join the invites blueprint)
from app.invites.api import bp as invites_api
from app.mail import routes as mail_routes
from app.models import import_models
from app.permissions import routes as permission_routes
from app.permissions.api import bp as permissions_api
from app.sessions import routes as session_routes
from app.sessions.api import bp as sessions_api
from app.sessions.web import register_sessions
from app.tenants import routes as tenant_routes
from app.tokens import routes as token_routes
from app.tokens import ui as token_ui  # noqa: F401 (its views join the tokens blueprint)
from app.tokens.api import bp as tokens_api
from app.tokens.usage import init_usage
from app.twofactor import admin as twofactor_admin
from app.twofactor import routes as twofactor_routes
from app.twofactor.api import bp as twofactor_api
from app.users import account as user_account  # noqa: F401 (its views join the users blueprint)
from app.users import routes as user_routes
from app.users.api import bp as users_api
from app.users.web import register_users

log = logging.getLogger(__name__)


def create_app(config: object | dict | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` overrides, then each register_* step."""
    app = Flask(__name__, instance_path=os.environ.get("HUBX_INSTANCE_PATH") or None,
                instance_relative_config=True)
    register_config(app, config)
    register_extensions(app)
    register_database(app)
    register_i18n(app)
    register_web(app)
    register_blueprints(app)
    register_commands(app)
    return app


def register_config(app: Flask, overrides) -> None:
    """Environment settings, test overrides, a default SQLite database and keys (dev keys outside prod)."""
    settings = Config.from_env()
    if overrides is not None:
        settings.update(as_dict(overrides))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not settings.get("SQLALCHEMY_DATABASE_URI"):
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'hubx.db'}"
    fallbacks = ensure_keys(settings, app.instance_path)
    check_shared_state(settings)
    app.config.update(settings)
    app.config["WTF_CSRF_HEADERS"] = ["X-CSRFToken"]
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # the token lives as long as the session does
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "hubx-memory://"  # app.core.ratelimit
    app.config["RATELIMIT_KEY_PREFIX"] = "hubx-rl"
    if fallbacks and not app.testing:
        log.warning(
            "\n%s\nUSING DEVELOPMENT KEYS from %s for: %s.\nNever run like this in production: "
            "set them in the environment (README, 'Configuration').\n%s",
            "!" * 72, Path(app.instance_path) / "dev-keys.json", ", ".join(fallbacks), "!" * 72,
        )


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions and the crypto helper."""

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    init_crypto(app)
    init_usage(app)


def register_database(app: Flask) -> None:
    """Import every model, and commit once at the end of each request."""

    import_models()
    register_request_transaction(app, unavailable=database_unavailable)
    with app.app_context():
        for engine in db.engines.values():
            register_idle_ping(engine, float(app.config.get("DATABASE_PING_AFTER_IDLE_SECONDS",
                                                            DEFAULT_PING_AFTER_IDLE_SECONDS)))


def register_i18n(app: Flask) -> None:
    """Flask-Babel with the locale chosen by user, tenant, then browser."""

    init_i18n(app)


def register_web(app: Flask) -> None:
    """Request kinds (page or API), URL converters, security headers, request id, errors; for pages only: CSRF,
    sign-in, per-address rate limits, unstorable text, session timeouts, tenancy of /t/<slug>/ URLs; template
    helpers."""

    register_request_kinds(app)
    register_converters(app)
    register_security(app)
    register_errors(app)
    register_tenant_reset(app)
    with pages_only(app):  # bearer-token API requests use none of these
        csrf.init_app(app)
        limiter.init_app(app)
        login_manager.init_app(app)
        register_users()  # the tenant switcher's memberships
        app.before_request(refuse_unstorable_page_input)  # before tenancy looks the slug up (API: check_body)
        register_tenancy(app)
        register_sessions(app, login_manager)  # the session check (user loader); activity once the tenant is known
    register_templates(app)
    register_labels(app)  # audit actions in words


def register_blueprints(app: Flask) -> None:
    """One blueprint per domain. A domain's package holds its blueprint and catalogue declarations only; importing
    its `routes` (and `ui`) modules here is what puts the views on it, so importing a domain's models or services
    never pulls in the web layer."""

    for bp in (health_bp, auth_routes.bp, tenant_routes.bp, permission_routes.bp, token_routes.bp, session_routes.bp,
               user_routes.bp, mail_routes.bp, auth_settings.bp, twofactor_routes.bp, twofactor_admin.bp,
               invite_routes.bp):
        app.register_blueprint(bp)
    register_api(app, tokens_api, permissions_api, users_api, sessions_api, twofactor_api, invites_api)


def register_commands(app: Flask) -> None:
    """Each domain's `flask` commands."""
    # Imported here, when an app is built, not when `app` is imported: commands wrap jobs, and a worker imports
    # `jobs` before `app` (jobs -> app.core -> app/__init__ -> a command -> jobs, half-initialised otherwise).
    from app.audit.cli import audit_cli
    from app.core.cli import register_core_commands
    from app.invites.cli import register_invite_commands
    from app.mail.cli import register_mail_commands
    from app.permissions.cli import register_permission_commands
    from app.sessions.cli import register_session_commands
    from app.tenants.cli import demo_cli, tenants_cli
    from app.tokens.cli import register_token_commands
    from app.twofactor.cli import register_twofa_commands
    from app.users.cli import register_user_commands

    app.cli.add_command(tenants_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(audit_cli)
    register_core_commands(app)
    register_permission_commands(app)
    register_token_commands(app)
    register_session_commands(app)
    register_user_commands(app)
    register_mail_commands(app)
    register_twofa_commands(app)
    register_invite_commands(app)
