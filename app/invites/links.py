"""The address an invite's link carries: `<base>/join/<code>` (DESIGN.md's URL map). The join page takes the code
out of the address bar on arrival; the link is shown (or mailed) once, like the code."""

from __future__ import annotations

from flask import current_app, has_request_context, request

#: where a command's links point when PUBLIC_URL is not set (`make run`)
DEFAULT_BASE = "http://127.0.0.1:5000"


def join_url(code: str) -> str:
    """The absolute join link of `code`: on PUBLIC_URL when set; else, in a request, the host it came to; else
    (a command) DEFAULT_BASE."""
    base = current_app.config.get("PUBLIC_URL") or ""
    if not base:
        base = request.host_url if has_request_context() else DEFAULT_BASE
    return f"{base.rstrip('/')}/join/{code}"
