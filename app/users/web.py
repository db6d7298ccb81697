"""What the users package gives the web layer: Flask-Login's user loader, and the signed-in person's memberships
for every template (the tenant switcher)."""

from __future__ import annotations

from flask_login import LoginManager, current_user

from app.core.web import register_template_value
from app.users.services import load_user, memberships_of


def register_users(login_manager: LoginManager) -> None:
    """Install the user loader and the `my_memberships` template value."""
    login_manager.user_loader(load_user)
    register_template_value("my_memberships", _my_memberships)


def _my_memberships() -> list:
    return memberships_of(current_user) if current_user.is_authenticated else []
