"""Locale selection: one language per person on every page (sign-in, errors and pages outside a tenant included):
their saved choice, else the one chosen in this browser (a cookie, kept across sign-in and sign-out), else the
browser's, else the tenant's default, else DEFAULT_LOCALE. An API request speaks its credential's tenant's."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, has_request_context, request
from flask_babel import get_locale, gettext
from flask_login import current_user

from app.core.request_state import state
from app.extensions import babel

LOCALES = {"pt_BR": "Português (Brasil)", "en": "English"}
#: the language chosen in this browser (the selector in the footer, on every page and the sign-in page first)
LOCALE_COOKIE = "hubx_locale"
_YEAR = 365 * 24 * 3600


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


def chosen_locale() -> str | None:
    """The language chosen in this browser (`remember_locale`), or None."""
    chosen = request.cookies.get(LOCALE_COOKIE)
    return chosen if chosen in LOCALES else None


def remember_locale(response: Response, locale: str) -> None:
    """Keep `locale` as this browser's choice: it survives sign-in and sign-out, so the sign-in page, the pages
    after it and the sign-out page speak one language."""
    response.set_cookie(LOCALE_COOKIE, locale, max_age=_YEAR, httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def forget_locale(response: Response) -> None:
    """This browser no longer holds a language of its own (the person's or the organization's applies)."""
    response.delete_cookie(LOCALE_COOKIE, samesite="Lax", httponly=True,
                           secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def select_locale() -> str:
    """The locale for this request; commands and jobs (no request) speak English."""
    if not has_request_context():
        return "en"
    if getattr(request, "is_api", False):  # what its credential says (its tenant's language); no cookie is read
        chosen = _hint(_LOCALE_HINTS)
    else:
        chosen = None
        if current_user and current_user.is_authenticated and current_user.profile is not None:
            chosen = current_user.profile.locale
        chosen = chosen or chosen_locale()
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"])
    if best is not None:
        return "en" if best == "en" else "pt_BR"
    tenant = state.tenant  # a browser that asks for none of ours: the tenant's default, where there is one
    if tenant is not None and tenant.default_locale in LOCALES:
        return tenant.default_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Times are shown in the person's own zone when they chose one (/account), else the current tenant's, else UTC
    (or the API credential's hint)."""
    if has_request_context() and not getattr(request, "is_api", False) and current_user \
            and current_user.is_authenticated and current_user.profile is not None and current_user.profile.timezone:
        return current_user.profile.timezone
    tenant = state.tenant
    if tenant is not None:
        return tenant.timezone
    return _hint(_TIMEZONE_HINTS) or "UTC"


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel with the selectors above."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories="translations")
    app.jinja_env.globals.update(LOCALES=LOCALES, get_locale=get_locale)
    app.jinja_env.filters["translated"] = translated


def translated(text: str | None) -> str | None:
    """`text`, a message kept as data (an OpenAPI summary, a status reason), in the request's language when the
    catalog has it, else as it is. Plain text: the template escapes it (unlike `_()`, whose result is markup)."""
    return str(gettext(text)) if text else text
