"""Server-side sessions: one `UserSession` row per signed-in browser, checked on every page request; the pages
where a person ends their own sessions and an admin ends their members'."""

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.permissions.catalogue import declare
from app.users.models import Role

bp = Blueprint("sessions", __name__)

declare(
    "sessions",
    ("view", _l("See the signed-in sessions of the tenant's members"), Role.ADMIN),
    ("manage", _l("End the sessions of the tenant's members"), Role.ADMIN),
)
