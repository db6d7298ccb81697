"""Paging: the one way a list is cut into pages, for the pages and the API alike.

`page_of(statement, page, per_page)` counts the statement's rows and loads one page of them (count plus
offset). Flask-SQLAlchemy's `db.paginate` does the same for statements of one model only (it applies
`scalars()`); `page_of` also pages rows of several columns (`rows=True`), and says in one place what a page past
the end is: the last page for a person (`clamp=True`, after a removal emptied the page on screen), an empty page
for the API (a client that pages until it gets no items must stop).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from app.extensions import db


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, its number, the page size, the total count and (derived) how many pages.
    Templates (macros/pagination.html) and the API's list envelope (app/api/lists.py) read this shape."""

    items: list
    page: int
    per_page: int
    total: int
    #: False when the count stopped at `page_of`'s `count_up_to`: `total` and `pages` are then lower bounds ("more
    #: than 1,000"), and there are further pages after `pages`
    exact: bool = True

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, an empty list has an empty first page); with an inexact
        count, how many there are at least."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages or not self.exact


def page_of(statement: Select, page: int, per_page: int, *, clamp: bool = False, rows: bool = False,
            count_up_to: int | None = None) -> Page:
    """Page `page` (from 1) of `statement`'s results, `per_page` a page; the statement carries its ORDER BY.

    A page below 1 is the first. Past the end: the last page with `clamp`, else an empty page that keeps its
    number. `rows=True` for a statement of several columns or entities (items are rows, not scalars).

    `count_up_to`: count no further than this many rows, or than the requested page's end if that is further: a
    list of 100,000 rows then says "more than 1,000" instead of reading them all for a number nobody pages through
    (`Page.exact` is False, `total` is the bound, `Page.has_next` stays True). Past the end the count is exact, so
    `clamp` still finds the last page."""
    page = max(1, page)
    counted = statement.order_by(None)
    limit = None
    if count_up_to is not None:
        limit = max(count_up_to, page * per_page)
        counted = counted.limit(limit + 1)
    # the count keeps the statement's options (`include_deleted`, `all_tenants`): it counts what the page lists
    counting = select(func.count()).select_from(counted.subquery())
    total = db.session.scalar(counting.execution_options(**statement.get_execution_options())) or 0
    exact = limit is None or total <= limit
    if not exact:
        total = limit
    if clamp:
        page = min(page, max(1, -(-total // per_page)))
    window = statement.limit(per_page).offset((page - 1) * per_page)
    items = db.session.execute(window).all() if rows else db.session.scalars(window).all()
    return Page(list(items), page, per_page, total, exact)


def starts_with_text(column, text: str):
    """A case-insensitive "`column` starts with `text`" condition, `text` taken literally: a b-tree index on
    `lower(column)` with `text_pattern_ops` (PostgreSQL) serves it."""
    return func.lower(column).startswith(text.lower(), autoescape=True)


def contains_text(column, text: str):
    """A case-insensitive "`column` contains `text`" condition, taking `text` literally (`%` and `_` match only
    themselves): what a list's search box means."""
    return func.lower(column).contains(text.lower(), autoescape=True)
