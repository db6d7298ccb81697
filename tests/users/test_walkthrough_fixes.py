"""What a new admin tripped over, kept fixed: removed members are counted and exported as removed; a bulk action
needs a selection; a member blocked here is told so; a browser whose session ended is told why; a personal time
zone applies on every page; the language can follow the organization again."""

import csv
import io
import re

from sqlalchemy import select

from app.extensions import db
from app.users.models import Membership, Role


def test_removed_members_are_counted_and_exported_as_removed(client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    gone = [create_user(tenant=tenant) for _ in range(2)]
    auth.login(admin)
    for person in gone:
        assert client.post(f"/t/{tenant.slug}/users/{person.id}/remove").status_code == 302
    assert "2 members." in client.get(f"/t/{tenant.slug}/users?state=removed").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(client.get(f"/t/{tenant.slug}/users/export.csv?state=removed")
                                       .get_data(as_text=True))))
    assert {row[3] for row in rows[1:]} == {"removed"} and len(rows) == 3


def test_a_bulk_action_needs_a_selection(client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)
    auth.login(admin)
    response = client.post(f"/t/{tenant.slug}/users/bulk", {"bulk_action": "block"}, htmx=True)
    assert response.status_code == 422 and "Select at least one member first." in response.get_data(as_text=True)


def test_a_member_blocked_here_is_told_why(client, make_client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    member = create_user(tenant=tenant)
    browser = make_client()
    auth.login(member, client=browser)
    assert browser.get(f"/t/{tenant.slug}/").status_code == 200  # the session's current tenant: this one
    auth.login(admin)
    client.post(f"/t/{tenant.slug}/users/{member.id}/block")
    after = browser.get(f"/t/{tenant.slug}/", follow_redirects=True).get_data(as_text=True)
    assert "An administrator blocked your access to an organization" in after  # the next click says why
    auth.login(member, client=browser)
    refused = browser.get(f"/t/{tenant.slug}/")
    assert refused.status_code == 403
    assert "suspended your access here" in refused.get_data(as_text=True)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == member.id))
    assert membership.blocked_at is not None


def test_a_personal_time_zone_applies_on_tenant_pages_too(client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)  # the tenant's zone: America/Sao_Paulo
    auth.login(admin)
    client.post("/account", {"name": admin.name, "locale": "", "timezone": "Asia/Tokyo"})
    page = client.get(f"/t/{tenant.slug}/users/{admin.id}").get_data(as_text=True)
    shown = re.search(r'Last sign-in</dt><dd class="col-7">([^<]+)<', page).group(1)
    db.session.expire_all()
    from zoneinfo import ZoneInfo

    tokyo = admin.profile.last_login_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{tokyo.hour % 12 or 12}:{tokyo.minute:02d}" in shown
    assert admin.profile.locale is None  # "the organization's language" chosen again


def test_a_large_list_says_more_than_and_still_pages_on(client, auth, member_of, create_user, monkeypatch):
    import app.users.routes as routes

    admin, tenant = member_of(Role.ADMIN)
    for n in range(5):
        create_user(f"p{n}@example.com", tenant=tenant)
    monkeypatch.setattr(routes, "PER_PAGE", 2)
    monkeypatch.setattr(routes, "COUNT_UP_TO", 3)  # six members: the count stops at three
    auth.login(admin)
    html = client.get(f"/t/{tenant.slug}/users").get_data(as_text=True)
    assert "More than 3 members." in html and "Page 1 of many" in html and 'rel="next"' in html
    last = client.get(f"/t/{tenant.slug}/users?page=3").get_data(as_text=True)  # past the cap: counted exactly
    assert "6 members." in last and "Page 3 of 3" in last and 'rel="next"' not in last


def test_recent_events_are_in_words_in_the_readers_language(client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    member = create_user(tenant=tenant)
    auth.login(admin)
    client.post(f"/t/{tenant.slug}/users/{member.id}/block")
    page = client.get(f"/t/{tenant.slug}/users/{member.id}").get_data(as_text=True)
    assert "Blocked in this organization</span>" in page and ">member.blocked<" not in page
    client.post("/account", {"name": admin.name, "locale": "pt_BR", "timezone": ""})
    page = client.get(f"/t/{tenant.slug}/users/{member.id}").get_data(as_text=True)
    assert "Bloqueado nesta organização</span>" in page


def test_every_recorded_audit_action_has_words():
    """A new `audit.record("…")` without a label would show its code: keep the registry complete."""
    from pathlib import Path

    from app.audit.labels import ACTION_LABELS

    source = "\n".join(path.read_text() for path in (Path(__file__).parents[2] / "app").rglob("*.py"))
    recorded = set(re.findall(r'(?:audit\.record|_audit)\(\s*"([a-z_]+\.[a-z_.]+)"', source))
    recorded |= set(re.findall(r'"(operator\.(?:granted|revoked))"', source))
    assert len(recorded) > 30
    assert recorded - set(ACTION_LABELS) == set()
