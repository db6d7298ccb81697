"""htmx helpers: recognise htmx requests and render a page's own fragment for them."""

from __future__ import annotations

from flask import render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for a request sent by htmx (htmx 4 sends `HX-Request: true`)."""
    return request.headers.get("HX-Request") == "true"


def hx_source() -> str:
    """The element that sent the request, as htmx 4's `HX-Source` header gives it (`tag#id`)."""
    return request.headers.get("HX-Source", "")


def render_page(template: str, block: str | None = None, **context):
    """Render the whole page, or only `block` of the same template when htmx asks for it."""
    if block and is_htmx():
        return render_block(template, block, **context)
    return render_template(template, **context)
