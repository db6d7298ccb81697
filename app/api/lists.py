"""The envelope of every list the API answers: `ListOf[ItemOut]`, one page of items with its place in the list.

A list endpoint declares `resp=Response(HTTP_200=ListOf[TokenOut], ...)` and returns
`list_body(page, [token_json(t) for t in page.items])`, where `page` is the service's `app.core.paging.Page`. The
OpenAPI document names each envelope after its items (`TokenOut` -> `TokenList`).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from app.core.paging import Page

Item = TypeVar("Item")


class ListOf(BaseModel, Generic[Item]):
    """One page of a list: its items, the page number (from 1), the page size, the total count, the pages."""

    items: list[Item]
    page: int
    per_page: int
    total: int
    pages: int

    @classmethod
    def model_parametrized_name(cls, params: tuple[type[Any], ...]) -> str:
        """`ListOf[TokenOut]` is `TokenList` in the document (a component name may not hold brackets)."""
        return f"{params[0].__name__.removesuffix('Out')}List"


def list_body(page: Page, items: list[dict]) -> dict:
    """The JSON of one page: `items` (the page's items as the API shows them) and where the page stands."""
    return {"items": items, "page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}
