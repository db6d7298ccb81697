"""The known-browser cookie: a signed, HttpOnly mark that this browser signed in to an account before.

A correct password typed in such a browser is not held by a lock that failures from elsewhere caused, so someone
who only knows an email cannot keep its owner out. The mark names the account and a fingerprint of its password
hash: a new password (changed or reset) retires every mark made before it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.users.models import User

_SALT = "hubx-known-browser"


def cookie_name() -> str:
    """`__Host-hubx_known` where the session cookie is Secure (production), else `hubx_known`."""
    return "__Host-hubx_known" if current_app.config.get("SESSION_COOKIE_SECURE") else "hubx_known"


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _max_age() -> timedelta:
    return timedelta(days=current_app.config["KNOWN_BROWSER_DAYS"])


def known_user_id() -> tuple[int, str] | None:
    """(account id, password fingerprint) this browser's mark names, or None (missing, forged, too old)."""
    raw = request.cookies.get(cookie_name())
    if not raw or len(raw) > 512:
        return None
    try:
        user_id, fingerprint = _signer().loads(raw, max_age=int(_max_age().total_seconds()))
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(user_id, int) or not isinstance(fingerprint, str):
        return None
    return user_id, fingerprint


def still_valid(user: User, mark: tuple[int, str] | None) -> bool:
    """True when `mark` was made for `user` with the password they have now."""
    return mark is not None and mark[0] == user.id and mark[1] == _fingerprint(user)


def remember_browser(response, user: User) -> None:
    """Mark this browser as one `user` signed in from (after a successful sign-in)."""
    response.set_cookie(cookie_name(), _signer().dumps([user.id, _fingerprint(user)]),
                        max_age=int(_max_age().total_seconds()), httponly=True, samesite="Lax", path="/",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
