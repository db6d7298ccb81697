"""Addresses the auth pages hand out in emails (a web helper other packages' pages may use)."""

from flask import url_for


def reset_link(raw: str) -> str:
    """The absolute address a password-reset email carries (its secret leaves the address bar on arrival)."""
    return url_for("auth.open_reset", secret=raw, _external=True)
