"""Request-level defences against hostile input, for pages and the API alike.

- Ids in URLs are `<id:name>`: 1 to 2**31 - 1, the range of the id columns (PostgreSQL `integer`). Anything
  else matches no route, so it is a 404 before any query, on every database.
- Text the database cannot store: NUL (PostgreSQL refuses it in text) and lone surrogates (U+D800 to U+DFFF,
  which no encoding can write; JSON's `\\ud800` makes them). In a path argument the page does not exist (404);
  in a query argument, a form field or a JSON string or key the request is refused (422, `invalid_characters`).
  Field validators refuse control characters too; this is the backstop that holds for every field, present
  and future. The API runs it after authentication (`app.api.check_body`): an anonymous caller learns nothing
  but 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask, abort, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

from app.core.errors import ValidationFailed

#: the largest row id (the id columns are PostgreSQL `integer`s)
ID_MAX = 2**31 - 1
#: methods that carry no body to check
BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 1 to `limit`, without leading zeros."""
    digits = str(limit)
    shorter = f"[1-9]\\d{{0,{len(digits) - 2}}}" if len(digits) > 1 else ""
    same_length = [digits]
    for i, digit in enumerate(digits):
        low = "1" if i == 0 else "0"
        if digit > low:
            rest = len(digits) - i - 1
            same_length.append(f"{digits[:i]}[{low}-{int(digit) - 1}]" + (f"\\d{{{rest}}}" if rest else ""))
    return "|".join(p for p in (shorter, *same_length) if p)


class IdConverter(IntegerConverter):
    """`<id:token_id>`: a row id, 1 to ID_MAX. A subclass of Werkzeug's int converter (spectree documents it
    as an integer path parameter: `app.api.FlaskPlugin.parse_path`).

    The range is in the pattern, not only checked after matching: Werkzeug counts a route whose pattern matched
    for another method before it converts, so an id out of range on a path that also has a GET page (a
    confirmation page beside its POST) would answer 405 instead of 404."""

    regex = f"(?:{_up_to(ID_MAX)})"

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (Werkzeug's name)
        super().__init__(map, min=1, max=ID_MAX)


def parse_id(value) -> int | None:
    """An id typed as text (a query argument, a form field), or None: ASCII digits only, within 1 to ID_MAX.

    For text parsed by hand. `str.isdigit()` is not enough: it accepts digits that `int()` refuses ("²") and
    strings too long for `int()` (over 4,300 digits), both a ValueError, a 500."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(ID_MAX)):
        return None
    number = int(text)
    return number if 0 < number <= ID_MAX else None


#: the highest page number a list's URL may ask for (past the end, a page shows its last page anyway)
PAGE_MAX = 100_000


def parse_page(value) -> int:
    """A page number typed as text (`?page=`): 1 for anything that is not an id, at most PAGE_MAX."""
    return min(parse_id(value) or 1, PAGE_MAX)


def parse_text(value, limit: int = 100) -> str:
    """Free text typed in a list's filter (`?q=`): trimmed, at most `limit` characters, "" for nothing."""
    return str(value or "").strip()[:limit]


class InvalidCharacters(ValidationFailed):
    code = "invalid_characters"
    title = _l("The request contains characters that cannot be stored (a NUL byte or an unpaired surrogate).")


def unstorable(text: str) -> bool:
    """True when `text` holds a NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None


def _shown(name) -> str:
    return _UNSTORABLE.sub("\ufffd", str(name))


def unstorable_field(pairs: Iterable[tuple[str, object]]) -> str | None:
    """The name of the first (name, value) pair whose name or text value holds unstorable text, or None."""
    for name, value in pairs:
        if _UNSTORABLE.search(name) or (isinstance(value, str) and _UNSTORABLE.search(value)):
            return _shown(name)
    return None


def unstorable_json(document) -> str | None:
    """Where (`ip_allow.0`) the first string value or key with unstorable text is in a parsed JSON document
    (`""` for the document itself), or None. Walks without recursion: a deep document is no danger here."""
    stack: list[tuple[tuple, object]] = [((), document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                return ".".join(_shown(part) for part in path)
        elif isinstance(node, dict):
            for key, value in node.items():
                if _UNSTORABLE.search(key):
                    return ".".join(_shown(part) for part in (*path, key))
                stack.append(((*path, key), value))
        elif isinstance(node, list):
            stack.extend(((*path, index), value) for index, value in enumerate(node))
    return None


def unstorable_path() -> bool:
    """True when a text argument of the matched route holds unstorable text (answer 404: no such page)."""
    return any(isinstance(value, str) and _UNSTORABLE.search(value) for value in (request.view_args or {}).values())


def refuse_unstorable_page_input() -> None:
    """Pages' before-request hook: 404 for unstorable text in a path argument, 422 in a query argument or a
    form field (an error page: no form can show a value it cannot hold)."""
    if unstorable_path():
        abort(404)
    field = unstorable_field(request.args.items(multi=True))
    if field is None and request.method not in BODILESS:
        field = unstorable_field(request.form.items(multi=True))
    if field is not None:
        raise InvalidCharacters(field=field)


def register_converters(app: Flask) -> None:
    """URL converters every blueprint uses; before the blueprints, whose rules name them."""
    app.url_map.converters["id"] = IdConverter
