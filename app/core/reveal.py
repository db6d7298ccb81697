"""The one-time reveal of a new secret after post/redirect/get, for any domain.

The POST that makes a secret keeps it, encrypted (app.core.crypto: Fernet, never in the clear, never in a URL),
in the person's session under the domain's key, with the facts that say what it belongs to, and redirects; the
page it redirects to takes it out of the session (`take`), checks it still belongs to what it was made for, and
shows it once, sent with Cache-Control: no-store (`state.no_store`). A reload, the back button or a repeat of the
POST (refused by the form's one-time nonce) shows it no more. A secret nobody came to see is unreadable after
`ttl` seconds and replaced by the next one. Used by app.tokens.reveal and app.invites.reveal."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import InvalidToken
from flask import session

from app.core.crypto import crypto


def keep(key: str, secret: str, **facts) -> None:
    """Keep `secret`, encrypted, with `facts` (plain values: ids, a kind), for the page the POST redirects to."""
    session[key] = {**facts, "sealed": crypto().encrypt(secret)}


def take(key: str, ttl: int, wanted: Callable[[dict], bool]) -> tuple[dict, str] | None:
    """(facts, secret) kept under `key` when `wanted(facts)`, taken out of the session: readable this once. None
    when nothing is kept, the facts are not wanted here (left in place for the page they are for), or the
    secret is older than `ttl` seconds or unreadable."""
    kept = session.get(key)
    if not isinstance(kept, dict) or not wanted(kept):
        return None
    session.pop(key, None)
    try:
        secret = crypto().fernet.decrypt(str(kept.get("sealed", "")).encode(), ttl=ttl).decode()
    except (InvalidToken, TypeError, ValueError):
        return None
    return kept, secret
