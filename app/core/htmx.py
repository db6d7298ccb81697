"""htmx helpers."""

from __future__ import annotations

from flask import request


def is_htmx() -> bool:
    """True for a request sent by htmx (htmx 4 sends `HX-Request: true`)."""
    return request.headers.get("HX-Request") == "true"
