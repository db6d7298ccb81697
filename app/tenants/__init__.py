"""Tenants: the dashboard and settings every capability extends, and tenant creation."""

from flask import Blueprint

bp = Blueprint("tenants", __name__)

from app.tenants import routes  # noqa: E402,F401
