"""Users: accounts (User, Profile), their memberships in tenants (Membership, Role), statuses, the user loader.

No blueprint yet: the users capability will add its pages and API here.
"""

from __future__ import annotations


def register_users(login_manager) -> None:
    """Flask-Login's user loader, and the signed-in person's memberships for every template (the tenant
    switcher)."""
    from app.core.web import register_template_value
    from app.users.services import load_user

    login_manager.user_loader(load_user)
    register_template_value("my_memberships", _my_memberships)


def _my_memberships() -> list:
    from flask_login import current_user

    from app.users.services import memberships_of

    return memberships_of(current_user) if current_user.is_authenticated else []
