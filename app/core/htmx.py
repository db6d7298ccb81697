"""htmx helpers."""

from __future__ import annotations

from flask import render_template, request
from jinja2_fragments.flask import render_block
from markupsafe import escape


def is_htmx() -> bool:
    """True for a request sent by htmx (htmx 4 sends `HX-Request: true`)."""
    return request.headers.get("HX-Request") == "true"


def htmx_target() -> str | None:
    """The id of the element htmx will swap into (htmx 4 sends `HX-Target: tag#id`), or None."""
    if not is_htmx():
        return None
    _, sep, element_id = request.headers.get("HX-Target", "").partition("#")
    return element_id or None if sep else None


def render_page(template: str, block: str | None, **context) -> str:
    """The whole page, or only `block` of it when htmx asked (fragments live in the page's template)."""
    if block is not None and is_htmx():
        return render_block(template, block, **context)
    return render_template(template, **context)


def oob(target_id: str, html: str) -> str:
    """Rendered `html` (a block, already escaped) put in place of the inside of `#target_id`, out of band:
    one more swap in the same response."""
    return f'<div id="{escape(target_id)}" hx-swap-oob="innerHTML">{html}</div>'
