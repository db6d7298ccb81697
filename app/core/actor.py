"""Who acts, from where: what every audited change needs, passed from the route to the service."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.models import User


@dataclass(frozen=True)
class Actor:
    """The user behind a change and the request's IP, user agent and id (for the audit trail)."""

    user: User
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    def meta(self) -> dict:
        """Keyword arguments for `audit.record`."""
        return {"actor_id": self.user.id, "ip": self.ip, "user_agent": self.user_agent,
                "request_id": self.request_id}
