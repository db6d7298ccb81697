"""The second factor: authenticator apps (TOTP), recovery codes, one-time codes by email, remembered browsers,
a tenant's requirement by role and an admin's reset. Its pages are /auth/2fa (the second step) and
/account/security."""

from flask import Blueprint

bp = Blueprint("twofactor", __name__)
