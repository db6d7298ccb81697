"""What the users package gives the web layer: the signed-in person's memberships for every template (the tenant
switcher). The session check that finds the person is the sessions domain's (app.sessions.web)."""

from __future__ import annotations

from flask_login import current_user

from app.core.web import register_template_value
from app.users.services import memberships_of


def register_users() -> None:
    """Install the `my_memberships` template value."""
    register_template_value("my_memberships", _my_memberships)


def _my_memberships() -> list:
    return memberships_of(current_user) if current_user.is_authenticated else []
