"""Locale selection: the user's choice, the tenant's default, the browser, then pt_BR."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from app.core.request_state import state
from app.extensions import babel

LOCALES = {"pt_BR": "Português (Brasil)", "en": "English"}


# Functions a package registers to tell the language and time zone of a request that has no page tenant (the API
# tells its credential's tenant's); the first that answers wins.
_LOCALE_HINTS: list[Callable[[], str | None]] = []
_TIMEZONE_HINTS: list[Callable[[], str | None]] = []


def register_locale_hint(locale: Callable[[], str | None], timezone: Callable[[], str | None]) -> None:
    """Let a package say the locale and time zone of requests it authenticates (None: no opinion)."""
    if locale not in _LOCALE_HINTS:
        _LOCALE_HINTS.append(locale)
    if timezone not in _TIMEZONE_HINTS:
        _TIMEZONE_HINTS.append(timezone)


def _hint(hints: list[Callable[[], str | None]]) -> str | None:
    for hint in hints:
        answer = hint()
        if answer:
            return answer
    return None


def select_locale() -> str:
    """The locale for this request; commands and jobs (no request) speak English."""
    if not has_request_context():
        return "en"
    chosen = None
    if current_user and current_user.is_authenticated and current_user.profile is not None:
        chosen = current_user.profile.locale
    chosen = chosen or session.get("locale")
    if not chosen and state.tenant is not None:
        chosen = state.tenant.default_locale
    if not chosen:  # an API request: what its credential says (its tenant's language)
        chosen = _hint(_LOCALE_HINTS)
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"])
    if best is None:
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return "en" if best == "en" else "pt_BR"


def select_timezone() -> str:
    """Times are shown in the current tenant's zone, UTC elsewhere."""
    tenant = state.tenant
    if tenant is not None:
        return tenant.timezone
    return _hint(_TIMEZONE_HINTS) or "UTC"


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with the selectors above."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories="translations")
    app.jinja_env.globals.update(LOCALES=LOCALES, get_locale=get_locale)
