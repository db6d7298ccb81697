"""The one-time reveal of a new secret after post/redirect/get.

The POST that creates or rotates a token keeps the secret, encrypted (app.core.crypto: Fernet, never in the
clear, never in a URL), in the person's session and redirects; the page it redirects to takes it out of the
session and shows it once, sent with Cache-Control: no-store. A reload of that page, the back button, or a
repeat of the POST (refused by the form's one-time nonce) shows it no more. A secret nobody came to see is
unreadable after `TTL_SECONDS` and replaced by the next one. The mechanism is app.core.reveal's (invites use it
too); this module says what a token's secret belongs to."""

from __future__ import annotations

from app.core import reveal
from app.core.crypto import crypto
from app.core.request_state import state
from app.tokens.models import ApiToken
from app.tokens.services import IssuedToken

SESSION_KEY = "tokens_reveal"
TTL_SECONDS = 600
CREATED, ROTATED = "created", "rotated"


def keep(issued: IssuedToken, kind: str) -> None:
    """Keep `issued`'s secret, encrypted, for the page the POST redirects to."""
    reveal.keep(SESSION_KEY, issued.secret, tenant=issued.token.tenant_id, token=issued.token.id, kind=kind)


def take(kind: str, token: ApiToken | None = None, *, find=None) -> IssuedToken | None:
    """The secret kept for this tenant (of `token`, or of any token of `kind`: `find(id)` gives it), taken
    out of the session: shown this once. None when there is none, it is too old, or its token is no longer
    what it was issued for (another tenant, another token, a secret that does not match)."""
    def wanted(kept: dict) -> bool:
        return (kept.get("kind") == kind and kept.get("tenant") == state.tenant.id
                and (token is None or kept.get("token") == token.id))

    found = reveal.take(SESSION_KEY, TTL_SECONDS, wanted)
    if found is None:
        return None
    kept, secret = found
    if token is None and find is not None:
        token = find(kept.get("token"))
    if token is None or token.digest != crypto().digest(secret) or token.status() != "active":
        return None
    state.no_store = True  # the secret is in this response
    return IssuedToken(token, secret)
