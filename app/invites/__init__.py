"""Invites: codes that give a person a place in a tenant (a personal invite, one use; a shareable link, up to N
uses, optionally held for an admin's approval), hashed, checksummed, limited per issuer and day.

This package has its domain only (models, codes, services). Its permissions (`invites.view`, `invites.create`,
`invites.revoke`, for ADMIN by default) are declared with the routes that enforce them: the catalogue refuses an
action nothing checks (tests/permissions/test_catalogue.py), so declaring them before the routes exist would
declare rights no page gates.
"""

from flask import Blueprint

bp = Blueprint("invites", __name__)
