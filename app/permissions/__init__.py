"""Permissions: allow/deny rules, one resolver with an explanation, a versioned cache, the gate."""

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.permissions.catalogue import declare
from app.users.models import Role

bp = Blueprint("permissions", __name__)

declare(
    "permissions",
    ("view", _l("See rules and effective permissions"), Role.MANAGER),
    ("manage", _l("Add and remove permission rules"), Role.ADMIN),
)
declare("dashboard", ("view", _l("Open the tenant dashboard"), Role.MEMBER))
