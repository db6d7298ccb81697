"""The one-time reveal of a new secret after post/redirect/get.

The POST that creates or rotates a token keeps the secret, encrypted (app.core.crypto: Fernet, never in the
clear, never in a URL), in the person's session and redirects; the page it redirects to takes it out of the
session and shows it once, sent with Cache-Control: no-store. A reload of that page, the back button, or a
repeat of the POST (refused by the form's one-time nonce) shows it no more. A secret nobody came to see is
unreadable after `TTL_SECONDS` and replaced by the next one."""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from flask import session

from app.core.crypto import crypto
from app.core.request_state import state
from app.tokens.models import ApiToken
from app.tokens.services import IssuedToken

SESSION_KEY = "tokens_reveal"
TTL_SECONDS = 600
CREATED, ROTATED = "created", "rotated"


def keep(issued: IssuedToken, kind: str) -> None:
    """Keep `issued`'s secret, encrypted, for the page the POST redirects to."""
    session[SESSION_KEY] = {"tenant": issued.token.tenant_id, "token": issued.token.id, "kind": kind,
                            "sealed": crypto().encrypt(issued.secret)}


def take(kind: str, token: ApiToken | None = None, *, find=None) -> IssuedToken | None:
    """The secret kept for this tenant (of `token`, or of any token of `kind`: `find(id)` gives it), taken
    out of the session: shown this once. None when there is none, it is too old, or its token is no longer
    what it was issued for (another tenant, another token, a secret that does not match)."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("kind") != kind or kept.get("tenant") != state.tenant.id:
        return None
    if token is not None and kept.get("token") != token.id:
        return None
    session.pop(SESSION_KEY, None)
    try:
        secret = crypto().fernet.decrypt(str(kept.get("sealed", "")).encode(), ttl=TTL_SECONDS).decode()
    except (InvalidToken, TypeError, ValueError):
        return None
    if token is None and find is not None:
        token = find(kept.get("token"))
    if token is None or token.digest != crypto().digest(secret) or token.status() != "active":
        return None
    state.no_store = True  # the secret is in this response
    return IssuedToken(token, secret)
