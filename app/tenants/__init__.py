"""Tenants: the dashboard and settings every capability extends, and tenant creation.

The package holds the blueprint only: its views (routes.py) are imported by `app.register_blueprints`, so that
importing the tenants' models or services never pulls in the web layer (which imports them back)."""

from flask import Blueprint

bp = Blueprint("tenants", __name__)
