"""Invites: codes that give a person a place in a tenant (a personal invite, one use; a shareable link, up to N
uses, optionally held for an admin's approval), hashed, checksummed, limited per issuer and day.

Its pages are /t/<slug>/invites (issue, list, revoke, resend, renew, approve) and /join (the join flow); its API
is /api/v1/invites; its commands are `flask invites create|list` and `flask expire-invites`.
"""

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.permissions.catalogue import declare
from app.users.models import Role

bp = Blueprint("invites", __name__)

declare(
    "invites",
    ("view", _l("See the tenant's invites and links"), Role.ADMIN),
    ("create", _l("Invite people and create shareable links (up to one's own role, within the daily limit)"),
     Role.ADMIN),
    ("revoke", _l("Revoke, resend and renew invites; approve joins that wait"), Role.ADMIN),
)
