"""The one-time reveal of a new invite code (issued, resent or renewed) after post/redirect/get: the code is
kept encrypted in the session (app.core.reveal) for the invites page the POST redirects to, which shows the
link and the code once with Cache-Control: no-store. Never in a URL, a flash message, a log or an audit event."""

from __future__ import annotations

from dataclasses import dataclass

from app.core import reveal
from app.core.request_state import state
from app.extensions import db
from app.invites import codes
from app.invites.models import Invite, InviteStatus

SESSION_KEY = "invites_reveal"
TTL_SECONDS = 600
ISSUED, RESENT, RENEWED = "issued", "resent", "renewed"


@dataclass(frozen=True)
class Revealed:
    """A code to show once: its invite, the code, why it is new, and whether it was emailed."""

    invite: Invite
    code: str
    why: str
    emailed: bool


def keep(invite: Invite, code: str, why: str, *, emailed: bool) -> None:
    """Keep `code`, encrypted, for the page the POST redirects to."""
    reveal.keep(SESSION_KEY, code, tenant=invite.tenant_id, invite=invite.id, why=why, emailed=emailed)


def take() -> Revealed | None:
    """The code kept for this tenant, taken out of the session: shown this once. None when there is none, it is
    too old, or its invite is no longer what the code was made for (another code since, revoked, used)."""
    found = reveal.take(SESSION_KEY, TTL_SECONDS, lambda kept: kept.get("tenant") == state.tenant.id)
    if found is None:
        return None
    kept, code = found
    invite_id = kept.get("invite")
    invite = db.session.get(Invite, invite_id) if isinstance(invite_id, int) else None
    if (invite is None or invite.tenant_id != state.tenant.id or invite.status != InviteStatus.PENDING
            or invite.digest != codes.digest_of(code)):
        return None
    state.no_store = True  # the code is in this response
    return Revealed(invite, code, str(kept.get("why")), bool(kept.get("emailed")))
