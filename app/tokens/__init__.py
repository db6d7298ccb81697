"""API tokens: scoped, hashed, checksummed bearer tokens, their usage log, and the JSON API's authentication."""

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.api.auth import Scope
from app.permissions.catalogue import declare
from app.users.models import Role

bp = Blueprint("tokens", __name__)

#: the permission each token scope stands for: the owner must hold it to give, and at every use (catalogue `api.*`)
SCOPE_RIGHTS = {Scope.READ: "api.read", Scope.WRITE: "api.write", Scope.ADMIN: "api.admin"}

declare(
    "tokens",
    ("view", _l("See one's own API tokens"), Role.MEMBER),
    ("create", _l("Create one's own API tokens"), Role.MEMBER),
    ("revoke", _l("Revoke and rotate one's own API tokens"), Role.MEMBER),
    ("manage", _l("See, revoke and limit every API token of the tenant"), Role.ADMIN),
)
# The highest scope a member's tokens may carry; a token never does more than its owner may.
declare(
    "api",
    ("read", _l("Use API tokens with the read scope"), Role.MEMBER),
    ("write", _l("Use API tokens with the write scope"), Role.MANAGER),
    ("admin", _l("Use API tokens with the admin scope"), Role.ADMIN),
)
