"""What invites add to the shared pages: the navigation entry, the dashboard card's figures, and the tenant
settings section (its validation, with hostile values, and its audit)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import InviteUse
from app.tenants.models import Tenant
from app.users.models import Role
from tests.invites.helpers import actor

SETTINGS = {"invites-invite_ttl_hours": "168", "invites-invite_max_ttl_hours": "336",
            "invites-invite_daily_limit": "12"}


def _settings_url(tenant) -> str:
    return f"/t/{tenant.slug}/settings/invites"


def _tenant(tenant_id: int) -> Tenant:
    db.session.expire_all()
    return db.session.get(Tenant, tenant_id)


def test_navigation_and_card_show_pending_joined_and_quota(client, auth, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    now = utcnow()
    services.issue(actor(admin), tenant, role="member", now=now)
    services.issue(actor(admin), tenant, role="member", now=now)
    expired, _ = services.issue(actor(admin), tenant, role="member", now=now)
    expired.expires_at = now - timedelta(hours=1)
    link, code = services.issue(actor(admin), tenant, role="member", kind="link", max_uses=3, now=now)
    db.session.commit()
    services.accept(code, create_user(), utcnow())
    old_join = create_user()
    services.accept(code, old_join, utcnow())
    db.session.commit()
    use = db.session.scalar(select(InviteUse).where(InviteUse.user_id == old_join.id))
    use.approved_at = now - timedelta(days=8)  # joined before this week
    db.session.commit()
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/invites"' in body
    card = body[body.index('id="card-invites"'):]
    assert '<p class="display-6 mb-0" id="invites-pending-count">3</p>' in card  # 2 personal + the link
    assert 'id="invites-joined-week">1<' in card and 'id="invites-left-today">1<' in card  # 5 - 4 made today


def test_members_see_neither_the_card_nor_the_entry(client, auth, member_of, create_user):
    _owner, tenant = member_of(Role.OWNER)
    member = create_user(tenant=tenant, role=Role.MEMBER)
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert 'id="card-invites"' not in body and f"/t/{tenant.slug}/invites" not in body


def test_settings_save_and_are_audited(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    page = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    assert 'id="settings-invites"' in page and 'value="72"' in page
    response = client.post(_settings_url(tenant), SETTINGS)
    assert response.status_code == 302 and response.headers["Location"].endswith("#section-invites")
    saved = _tenant(tenant.id)
    assert (saved.invite_ttl_hours, saved.invite_max_ttl_hours, saved.invite_daily_limit) == (168, 336, 12)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invite.settings_changed"))
    assert event.actor_user_id == owner.id and event.details == {
        "before": {"invite_ttl_hours": 72, "invite_max_ttl_hours": 720, "invite_daily_limit": 5},
        "after": {"invite_ttl_hours": 168, "invite_max_ttl_hours": 336, "invite_daily_limit": 12}}
    htmx = client.post(_settings_url(tenant), SETTINGS, htmx=True)  # nothing changed: saved, not audited again
    assert htmx.status_code == 200 and "Invite settings saved." in htmx.get_data(as_text=True)
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite.settings_changed")).all()) == 1


@pytest.mark.parametrize("ttl, limit", [("721", "0"), ("0", "1001"), ("\x00", "A" * 10_240), ("9" * 5000, "-1"),
                                        ("", ""), ("1.5", "²")])
def test_settings_refuse_hostile_values_all_at_once(client, auth, member_of, ttl, limit):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    response = client.post(_settings_url(tenant), {"invites-invite_ttl_hours": ttl, "invites-invite_max_ttl_hours": ttl,
                                                   "invites-invite_daily_limit": limit})
    assert 400 <= response.status_code < 500
    if response.status_code == 422 and "\x00" not in ttl:
        assert response.get_data(as_text=True).count('class="invalid-feedback d-block"') == 3
    saved = _tenant(tenant.id)
    assert (saved.invite_ttl_hours, saved.invite_max_ttl_hours, saved.invite_daily_limit) == (72, 720, 5)


def test_a_new_invite_s_lifetime_is_at_most_the_longest(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    response = client.post(_settings_url(tenant), {**SETTINGS, "invites-invite_ttl_hours": "400"})
    assert response.status_code == 422
    assert "A new invite cannot last longer than the longest lifetime (336 hours)." in response.get_data(as_text=True)
    assert _tenant(tenant.id).invite_ttl_hours == 72


def test_settings_need_settings_manage(client, auth, member_of, create_user):
    _owner, tenant = member_of(Role.OWNER)
    manager = create_user(tenant=tenant, role=Role.MANAGER)
    auth.login(manager)
    assert client.post(_settings_url(tenant), SETTINGS).status_code == 403
    assert _tenant(tenant.id).invite_ttl_hours == 72


def test_the_lifetime_offered_follows_the_setting(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    tenant.invite_ttl_hours, tenant.invite_max_ttl_hours = 12, 24
    db.session.commit()
    auth.login(owner)
    page = client.get(f"/t/{tenant.slug}/invites").get_data(as_text=True)
    assert 'name="invite-ttl_hours"' in page and 'max="24"' in page and "At most 24 here." in page
    assert re.search(r'<input[^>]*name="invite-ttl_hours"[^>]*value="12"', page)
    response = client.post(f"/t/{tenant.slug}/invites", {"invite-role": "member", "invite-ttl_hours": "48"})
    assert response.status_code == 422 and "An invite lasts at most 24 hours here." in response.get_data(as_text=True)
