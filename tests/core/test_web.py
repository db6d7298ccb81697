"""Template values are computed only when a template reads them: an htmx fragment, which shows no navigation,
pays for no navigation query; a whole page still gets the tenant switcher."""

from __future__ import annotations

from app.users.models import Role
from tests.tokens.helpers import recorded_sql


def _switcher_queries(statements: list[str]) -> list[str]:
    # memberships_of(): the person's memberships across tenants, by tenant name (the tenant switcher)
    return [s for s in statements if "FROM membership JOIN tenant" in s and "ORDER BY tenant.name" in s]


def test_an_htmx_fragment_runs_no_navigation_query(client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    member = create_user(tenant=tenant)
    auth.login(admin)
    form = {"user_id": str(member.id), "effect": "deny", "target": "tokens.create", "reason": "fragment"}
    client.token()  # the CSRF token, fetched by a whole page, before counting
    with recorded_sql() as statements:
        response = client.post(f"/t/{tenant.slug}/permissions/rules", form, htmx=True,
                               headers={"HX-Target": "form#perm-rule-form"})
    assert response.status_code in {200, 422} and "<html" not in response.get_data(as_text=True)
    assert _switcher_queries(statements) == []


def test_a_whole_page_still_shows_the_tenant_switcher(client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)
    auth.login(admin)
    with recorded_sql() as statements:
        body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert tenant.name in body
    assert len(_switcher_queries(statements)) == 1  # once per page, however many places read it
