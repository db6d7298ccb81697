"""Users: accounts (User, Profile), their memberships in tenants (Membership, Role), statuses; the member
administration pages of a tenant (/t/<slug>/users) and the account page (/account)."""

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.permissions.catalogue import declare
from app.users.models import Role

bp = Blueprint("users", __name__)

declare(
    "users",
    ("view", _l("See the tenant's members, their sessions and tokens"), Role.MANAGER),
    ("manage", _l("Block, unblock, unlock, remove members and change their roles"), Role.ADMIN),
)
