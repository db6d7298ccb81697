"""Who acts, from where: what every audited change needs, passed from the route to the service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The user behind a change, the request's IP, user agent and id (for the audit trail), and the scope of
    the bearer token the user acts through (None for a signed-in person): a token's scope caps what it may
    create or rotate, whatever its owner may do."""

    #: the person (users.models.User: its `id` and `is_operator` are what the kernel reads)
    user: Any
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    scope: str | None = None

    def meta(self) -> dict:
        """Keyword arguments for `audit.record`."""
        return {"actor_id": self.user.id, "ip": self.ip, "user_agent": self.user_agent,
                "request_id": self.request_id}
