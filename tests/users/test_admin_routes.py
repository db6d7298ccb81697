"""Member administration pages: the list (SQL search, filters, sort, CSV), a member's page, and the actions with
their effects: a block here denies this tenant only (pages and tokens, at once), removal is restorable, the last
owner stays, bulk actions skip whom the admin may not act on."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens import services as token_services
from app.users.models import Membership, Role

ME = "/api/v1/me"


@pytest.fixture
def team(member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    ana = create_user("ana.souza@example.com", tenant=tenant, name="Ana Souza")
    bruno = create_user("bruno@example.com", tenant=tenant, name="Bruno Lima", role=Role.MANAGER)
    return tenant, admin, ana, bruno


def _membership(tenant, user) -> Membership:
    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                                      Membership.user_id == user.id)
                             .execution_options(include_deleted=True, all_tenants=True))


def test_the_list_searches_filters_and_sorts(client, auth, team):
    tenant, admin, ana, bruno = team
    auth.login(admin)
    url = f"/t/{tenant.slug}/users"
    body = client.get(url).get_data(as_text=True)
    assert all(person.email in body for person in (admin, ana, bruno)) and "3 members." in body
    found = client.get(f"{url}?q=SOUZA", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert ana.email in found and bruno.email not in found and "<html" not in found
    assert "bruno" not in client.get(f"{url}?q=%25").get_data(as_text=True)  # % is a character, not a wildcard
    managers = client.get(f"{url}?role=manager").get_data(as_text=True)
    assert bruno.email in managers and ana.email not in managers
    by_name = client.get(f"{url}?sort=name").get_data(as_text=True)
    assert by_name.index("Ana Souza") < by_name.index("Bruno Lima")
    assert client.get(f"{url}?role=nonsense&state=zzz&sort=x&page=99999999999").status_code == 200


def test_blocking_here_denies_this_tenant_only_and_stops_its_tokens(client, make_client, auth, team, member_of):
    tenant, admin, ana, _bruno = team
    _other_owner, elsewhere = member_of(Role.OWNER)
    db.session.add(Membership(tenant_id=elsewhere.id, user_id=ana.id, role=Role.MEMBER))
    db.session.commit()
    secret = token_services.create_token(None, tenant, ana, name="ana's", scope="read").secret
    db.session.commit()
    anas_browser = make_client()
    auth.login(ana, client=anas_browser)
    assert anas_browser.get(f"/t/{tenant.slug}/").status_code == 200
    assert client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    auth.login(admin)
    page = client.get(f"/t/{tenant.slug}/users/{ana.id}/block")  # the question, without JavaScript
    assert page.status_code == 200 and "Block this member here?" in page.get_data(as_text=True)
    response = client.post(f"/t/{tenant.slug}/users/{ana.id}/block")
    assert response.status_code == 302
    assert _membership(tenant, ana).blocked_at is not None
    assert anas_browser.get(f"/t/{tenant.slug}/").status_code in (302, 403)  # refused at the next click
    assert client.get(ME, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    auth.login(ana, client=anas_browser)
    assert anas_browser.get(f"/t/{elsewhere.slug}/").status_code == 200  # the other tenant is not affected
    assert anas_browser.get(f"/t/{tenant.slug}/").status_code == 403
    blocked = client.get(f"/t/{tenant.slug}/users?state=blocked").get_data(as_text=True)
    assert f"id=\"member-{ana.id}\"" in blocked and f"id=\"member-{admin.id}\"" not in blocked
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/unblock").status_code == 302
    assert anas_browser.get(f"/t/{tenant.slug}/").status_code == 200
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("member.%"))).all()
    assert actions == ["member.blocked", "member.unblocked"]


def test_remove_and_restore(client, make_client, auth, team):
    tenant, admin, ana, _bruno = team
    anas_browser = make_client()
    auth.login(ana, client=anas_browser)
    auth.login(admin)
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/remove").status_code == 302
    assert anas_browser.get(f"/t/{tenant.slug}/").status_code in (302, 404)
    row = f'id="member-{ana.id}"'
    assert row not in client.get(f"/t/{tenant.slug}/users").get_data(as_text=True)
    assert row in client.get(f"/t/{tenant.slug}/users?state=removed").get_data(as_text=True)
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/restore").status_code == 302
    assert _membership(tenant, ana).deleted_at is None and _membership(tenant, ana).role == Role.MEMBER


def test_unlock_ends_a_lock_now(client, auth, team):
    tenant, admin, ana, _bruno = team
    ana.profile.locked_until, ana.profile.failed_login_count = utcnow() + timedelta(minutes=10), 7
    db.session.commit()
    auth.login(admin)
    assert ana.email in client.get(f"/t/{tenant.slug}/users?state=locked").get_data(as_text=True)
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/unlock").status_code == 302
    db.session.expire_all()
    assert ana.profile.locked_until is None and ana.profile.failed_login_count == 0
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/unlock").status_code == 409  # says it is not locked


def test_the_member_page_shows_sessions_tokens_and_events(client, make_client, auth, team):
    tenant, admin, ana, _bruno = team
    browser = make_client()
    browser.raw.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Macintosh; Mac OS X 14) Safari/605.1"
    auth.login(ana, client=browser)
    token_services.create_token(None, tenant, ana, name="nightly backup", scope="read")
    db.session.commit()
    auth.login(admin)
    client.post(f"/t/{tenant.slug}/users/{ana.id}/role", {"role": "manager"})
    body = client.get(f"/t/{tenant.slug}/users/{ana.id}").get_data(as_text=True)
    assert "Safari on macOS" in body and "nightly backup" in body and "member.role_changed" in body
    assert client.get(f"/t/{tenant.slug}/users/999999").status_code == 404


def test_sign_out_everywhere_ends_every_session(client, make_client, auth, team):
    tenant, admin, ana, _bruno = team
    browsers = [make_client(), make_client()]
    for browser in browsers:
        auth.login(ana, client=browser)
    auth.login(admin)
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/sign-out").status_code == 302
    for browser in browsers:
        response = browser.get(f"/t/{tenant.slug}/")
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_bulk_acts_on_each_and_says_who_was_skipped(client, auth, member_of, create_user):
    owner, tenant = member_of(Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    a, b = create_user(tenant=tenant), create_user(tenant=tenant)
    auth.login(admin)
    confirm = client.get(f"/t/{tenant.slug}/users/bulk?bulk_action=block&user_id={a.id}&user_id={b.id}")
    assert confirm.status_code == 200 and a.email in confirm.get_data(as_text=True)
    response = client.post(f"/t/{tenant.slug}/users/bulk", {"bulk_action": "block",
                                                            "user_id": [a.id, b.id, owner.id]}, htmx=True)
    text = response.get_data(as_text=True)
    assert "Done for 2 members." in text and owner.email in text and "ranks above yours" in text
    assert _membership(tenant, a).blocked_at and _membership(tenant, b).blocked_at
    assert _membership(tenant, owner).blocked_at is None


def test_csv_export_streams_the_filtered_list_safely(client, auth, team, create_user):
    tenant, admin, ana, bruno = team
    create_user("formula@example.com", tenant=tenant, name="=HYPERLINK(\"http://evil.example\")")
    auth.login(admin)
    response = client.get(f"/t/{tenant.slug}/users/export.csv?role=member")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["email", "name", "role"]
    emails = [row[0] for row in rows[1:]]
    assert ana.email in emails and bruno.email not in emails and admin.email not in emails
    formula = next(row for row in rows if row[0] == "formula@example.com")
    assert formula[1].startswith("'=")  # a spreadsheet shows it as text, never runs it


def test_managers_see_but_do_not_act(client, auth, team):
    tenant, _admin, ana, bruno = team
    auth.login(bruno)
    body = client.get(f"/t/{tenant.slug}/users/{ana.id}").get_data(as_text=True)
    assert "Only this tenant's admins can act on members." in body
    assert client.post(f"/t/{tenant.slug}/users/{ana.id}/block").status_code == 403
    auth.logout()
    auth.login(ana)
    assert client.get(f"/t/{tenant.slug}/users").status_code == 403
