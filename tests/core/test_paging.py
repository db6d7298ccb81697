"""Paging (app/core/paging.py): count plus offset, a page past the end, rows of several entities, literal search."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.paging import Page, contains_text, page_of
from app.tenants.models import Tenant
from app.users.models import Membership, User
from app.users.services import member_page


@pytest.fixture
def tenants(create_tenant):
    """Seven tenants, named t1 to t7."""
    return [create_tenant(slug=f"t{n}", name=f"t{n}") for n in range(1, 8)]


def _names(page: Page) -> list[str]:
    return [tenant.name for tenant in page.items]


def test_pages_cut_the_list_in_order(tenants):
    by_name = select(Tenant).order_by(Tenant.name)
    first, last = page_of(by_name, 1, 3), page_of(by_name, 3, 3)
    assert (_names(first), first.page, first.per_page, first.total, first.pages) == (["t1", "t2", "t3"], 1, 3, 7, 3)
    assert (_names(last), last.page) == (["t7"], 3)


@pytest.mark.parametrize("asked, shown, names", [(4, 3, ["t7"]), (100_000, 3, ["t7"]), (0, 1, ["t1", "t2", "t3"]),
                                                 (-5, 1, ["t1", "t2", "t3"])])
def test_past_the_end_a_clamped_page_is_the_last(tenants, asked, shown, names):
    page = page_of(select(Tenant).order_by(Tenant.name), asked, 3, clamp=True)
    assert (page.page, _names(page), page.pages) == (shown, names, 3)


def test_past_the_end_an_unclamped_page_is_empty_and_keeps_its_number(tenants):
    """What the API answers: a client paging until it gets no items stops."""
    page = page_of(select(Tenant).order_by(Tenant.name), 9, 3)
    assert (page.items, page.page, page.total, page.pages) == ([], 9, 7, 3)


def test_an_empty_list_has_one_empty_page(app):
    page = page_of(select(Tenant).where(Tenant.slug == "none").order_by(Tenant.id), 5, 10, clamp=True)
    assert (page.items, page.page, page.pages, page.total) == ([], 1, 1, 0)


def test_rows_of_several_entities(member_of, create_user):
    user, tenant = member_of(email="b@example.com")
    create_user("a@example.com", tenant=tenant, name="Ann")
    query = (select(User, Membership).join(Membership, Membership.user_id == User.id)
             .where(Membership.tenant_id == tenant.id).order_by(User.email).execution_options(all_tenants=True))
    page = page_of(query, 1, 10, rows=True)
    assert [(u.email, m.tenant_id) for u, m in page.items] == [("a@example.com", tenant.id),
                                                               ("b@example.com", tenant.id)]


def test_the_member_list_searches_in_sql_literally(member_of, create_user):
    _, tenant = member_of(email="zed@example.com")
    create_user("ann@example.com", tenant=tenant, name="Ann 100%")
    create_user("bob_x@example.com", tenant=tenant, name="Bob")
    assert [u.email for u, _ in member_page(tenant, search="ANN").items] == ["ann@example.com"]  # email, any case
    assert [u.email for u, _ in member_page(tenant, search="100%").items] == ["ann@example.com"]  # name; % is a %
    assert [u.email for u, _ in member_page(tenant, search="b_x").items] == ["bob_x@example.com"]  # _ is a _
    assert member_page(tenant, search="%").total == 0  # under three characters: the start only, and none starts with %
    last = member_page(tenant, page=9, per_page=2, clamp=True)
    assert (last.page, [u.email for u, _ in last.items]) == (2, ["zed@example.com"])


def test_one_or_two_characters_match_the_start_of_the_email_or_the_name(member_of, create_user):
    _, tenant = member_of(email="zed@example.com", name="Zed")
    create_user("ann@example.com", tenant=tenant, name="Ann Lee")
    create_user("bob@example.com", tenant=tenant, name="Bob Nnamdi")

    def found(text):
        return sorted(u.email for u, _ in member_page(tenant, search=text).items)

    assert found("A") == ["ann@example.com"]
    assert found("bo") == ["bob@example.com"]
    assert found("nn") == []  # inside "ann" and "Nnamdi": not the start
    assert found("nn@") == ["ann@example.com"]  # three: anywhere
    assert found("Nna") == ["bob@example.com"]
    assert found("le") == []  # "Lee" starts a word, not the name


def test_a_capped_count_says_more_and_keeps_the_next_page(tenants):
    statement = select(Tenant).order_by(Tenant.id)
    capped = page_of(statement, 1, 3, count_up_to=5)
    assert (capped.total, capped.exact, capped.has_next, len(capped.items)) == (5, False, True, 3)
    deep = page_of(statement, 3, 2, count_up_to=5)  # past the cap: counts to the page's end, and sees one more
    assert (deep.total, deep.exact, deep.has_next, _names(deep)) == (6, False, True, ["t5", "t6"])
    assert page_of(statement, 1, 3, count_up_to=1000).exact
    last = page_of(statement, 99, 3, count_up_to=5, clamp=True)  # past the end the count is exact: the last page
    assert (last.exact, last.page, last.has_next) == (True, last.pages, False)


def test_contains_text_is_case_insensitive(tenants):
    found = page_of(select(Tenant).where(contains_text(Tenant.name, "T7")).order_by(Tenant.id), 1, 10)
    assert _names(found) == ["t7"]
