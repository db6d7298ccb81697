"""Where a person lands (`/`, after sign-in): the tenant they used last, else the one they own; the logo and the
tenant switcher keep them where they are."""

from __future__ import annotations

import re

from app.core.web import LAST_TENANT_COOKIE
from app.extensions import db
from app.users.models import Membership, Role, User


def _home(client) -> str:
    response = client.get("/")
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def _member(user: User, tenant, role: Role) -> None:
    db.session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    db.session.commit()


def _owner_of_demo(create_tenant, create_user, *, acme_role: Role):
    """Two tenants, Acme first by name; one person owning Demo and holding `acme_role` in Acme."""
    acme = create_tenant(slug="acme", name="Acme")
    demo = create_tenant(slug="demo", name="Demo")
    user = create_user("owner@example.com", tenant=demo, role=Role.OWNER)
    _member(user, acme, acme_role)
    return user, acme, demo


def test_lands_on_the_tenant_the_person_owns_not_the_first_by_name(client, auth, create_tenant, create_user):
    user, acme, demo = _owner_of_demo(create_tenant, create_user, acme_role=Role.ADMIN)
    auth.login(user)
    assert _home(client) == "/t/demo/"


def test_lands_on_the_tenant_used_last_and_remembers_it_across_sign_out(client, auth, create_tenant, create_user):
    user, acme, demo = _owner_of_demo(create_tenant, create_user, acme_role=Role.ADMIN)
    auth.login(user)
    assert client.get("/t/acme/").status_code == 200
    assert _home(client) == "/t/acme/"
    auth.logout()
    auth.login(user)
    assert _home(client) == "/t/acme/"


def test_a_remembered_tenant_no_longer_open_to_the_person_is_ignored(client, auth, create_tenant, create_user):
    user, acme, demo = _owner_of_demo(create_tenant, create_user, acme_role=Role.MEMBER)
    auth.login(user)
    client.get("/t/acme/")
    db.session.delete(db.session.query(Membership).filter_by(tenant_id=acme.id, user_id=user.id).one())
    db.session.commit()
    assert _home(client) == "/t/demo/"


def test_the_remembered_tenant_is_the_persons_own(client, auth, create_tenant, create_user):
    acme = create_tenant(slug="acme", name="Acme")
    demo = create_tenant(slug="demo", name="Demo")
    first = create_user("first@example.com", tenant=acme, role=Role.MEMBER)
    _member(first, demo, Role.MEMBER)
    second = create_user("second@example.com", tenant=demo, role=Role.OWNER)
    _member(second, acme, Role.MEMBER)
    auth.login(first)
    client.get("/t/demo/")
    auth.logout()
    auth.login(second)  # the same browser, someone else: their own landing, not the first person's
    client.get("/t/acme/")  # (and their visit is now the one remembered)
    auth.logout()
    auth.login(first)
    assert _home(client) == "/t/acme/"


def test_a_forged_cookie_is_ignored(client, auth, create_tenant, create_user):
    demo = create_tenant(slug="demo", name="Demo")
    create_tenant(slug="acme", name="Acme")
    user = create_user("owner@example.com", tenant=demo, role=Role.OWNER)
    auth.login(user)
    client.raw.set_cookie(LAST_TENANT_COOKIE, f'[{user.id}, "acme"]')
    assert _home(client) == "/t/demo/"


def test_logo_goes_to_the_current_tenant(client, auth, create_tenant, create_user):
    acme = create_tenant(slug="acme", name="Acme")
    demo = create_tenant(slug="demo", name="Demo")
    user = create_user("owner@example.com", tenant=acme, role=Role.MEMBER)
    _member(user, demo, Role.MEMBER)
    auth.login(user)
    body = client.get("/t/demo/").get_data(as_text=True)
    assert re.search(r'<a class="navbar-brand[^"]*" href="/t/demo/">', body)


def test_the_switcher_keeps_the_page(client, auth, create_tenant, create_user):
    acme = create_tenant(slug="acme", name="Acme")
    demo = create_tenant(slug="demo", name="Demo")
    user = create_user("owner@example.com", tenant=acme, role=Role.ADMIN)
    _member(user, demo, Role.ADMIN)
    auth.login(user)
    settings = client.get("/t/acme/settings").get_data(as_text=True)
    assert 'href="/t/demo/settings"' in settings
    assert 'href="/t/demo/tokens"' in client.get("/t/acme/tokens").get_data(as_text=True)
    # the page of one of this tenant's objects (the other tenant has no such page): that section's list there
    from app.tokens.services import create_token

    issued = create_token(None, acme, user, name="one", scope="read")
    db.session.commit()
    detail = client.get(f"/t/acme/tokens/{issued.token.id}")
    assert detail.status_code == 200
    body = detail.get_data(as_text=True)
    assert re.search(r'href="/t/demo/tokens">\s*Demo', body) and "/t/demo/tokens/" not in body


def test_the_switcher_after_an_htmx_answer_keeps_the_page_in_the_address_bar(client, auth, create_tenant,
                                                                             create_user):
    acme = create_tenant(slug="acme", name="Acme")
    demo = create_tenant(slug="demo", name="Demo")
    user = create_user("owner@example.com", tenant=acme, role=Role.ADMIN)
    _member(user, demo, Role.ADMIN)
    auth.login(user)
    client.get("/t/acme/settings")
    response = client.post("/t/acme/settings/general",
                           {"name": "Acme Renamed", "timezone": "UTC", "default_locale": "en"}, htmx=True,
                           headers={"HX-Current-URL": "http://localhost/t/acme/settings"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    # the top bar, out of band, with the new name, the page marked, the switcher keeping the page
    assert 'id="topbar" hx-swap-oob="innerHTML"' in body
    assert '<span id="current-tenant-name">Acme Renamed</span>' in body
    assert re.search(r'href="/t/acme/settings"\s+aria-current="page"', body)
    assert 'href="/t/demo/settings"' in body


def test_an_operator_without_tenants_chooses_one(client, auth, create_tenant, create_user):
    create_tenant(slug="acme", name="Acme")
    operator = create_user("op@example.com")
    operator.is_operator = True
    db.session.commit()
    auth.login(operator)
    response = client.get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Choose a tenant" in body and 'href="/t/acme/"' in body


def test_landing_on_the_sessions_tenant_costs_no_query_beyond_the_session_check(client, auth, create_tenant,
                                                                               create_user):
    from tests.tokens.helpers import recorded_sql

    user, acme, demo = _owner_of_demo(create_tenant, create_user, acme_role=Role.ADMIN)
    auth.login(user)
    assert client.get("/t/acme/").status_code == 200  # the session's current tenant: Acme
    with recorded_sql() as sent:
        assert _home(client) == "/t/acme/"
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "user_session" in selects[0]  # the session read, which also found Acme's slug


def test_a_member_removed_from_the_sessions_tenant_lands_elsewhere(client, auth, create_tenant, create_user):
    from app.core.mixins import utcnow

    user, acme, demo = _owner_of_demo(create_tenant, create_user, acme_role=Role.MEMBER)
    auth.login(user)
    client.get("/t/acme/")
    membership = db.session.query(Membership).filter_by(tenant_id=acme.id, user_id=user.id).one()
    membership.deleted_at = utcnow()  # removed (soft), as the users page does
    db.session.commit()
    assert _home(client) == "/t/demo/"
