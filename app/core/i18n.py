"""Locale selection: the user's choice, the tenant's default, the browser, then pt_BR."""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from app.extensions import babel

LOCALES = {"pt_BR": "Português (Brasil)", "en": "English"}


def select_locale() -> str:
    """The locale for this request; commands and jobs (no request) speak English."""
    if not has_request_context():
        return "en"
    chosen = None
    if current_user and current_user.is_authenticated and current_user.profile is not None:
        chosen = current_user.profile.locale
    chosen = chosen or session.get("locale")
    if not chosen and g.get("tenant") is not None:
        chosen = g.tenant.default_locale
    if not chosen and g.get("bearer") is not None:  # an API request: its token's tenant
        chosen = g.bearer.policy.subject.tenant_locale
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"])
    if best is None:
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return "en" if best == "en" else "pt_BR"


def select_timezone() -> str:
    """Times are shown in the current tenant's zone, UTC elsewhere."""
    tenant, bearer = g.get("tenant"), g.get("bearer")
    if tenant is not None:
        return tenant.timezone
    return bearer.policy.subject.tenant_timezone if bearer is not None else "UTC"


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with the selectors above."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories="translations")
    app.jinja_env.globals.update(LOCALES=LOCALES, get_locale=get_locale)
