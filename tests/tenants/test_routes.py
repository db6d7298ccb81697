"""Tenant dashboard and settings pages."""

import re

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Role


def test_dashboard_shows_cards_and_role(client, auth, member_of):
    user, tenant = member_of(Role.MANAGER)
    auth.login(user)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert tenant.name in body and 'id="card-members"' in body and "manager" in body
    assert f'href="/t/{tenant.slug}/settings"' not in body  # settings are for admins


def test_home_without_tenant(client, auth, create_user):
    auth.login(create_user())
    response = client.get("/")
    assert response.status_code == 200 and "not a member of any tenant" in response.get_data(as_text=True)


def test_tenant_switcher_lists_every_membership(client, auth, member_of, create_tenant):
    user, first = member_of(Role.ADMIN)
    second = create_tenant(name="Second Org")
    from app.users.models import Membership

    db.session.add(Membership(tenant_id=second.id, user_id=user.id, role=Role.MEMBER))
    db.session.commit()
    auth.login(user)
    body = client.get(f"/t/{first.slug}/").get_data(as_text=True)
    assert f'href="/t/{second.slug}/"' in body and "Second Org" in body


def test_admin_sees_settings(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    body = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    assert 'id="settings-general"' in body and "America/Sao_Paulo" in body


def _settings(tenant, **changes):
    data = {"name": tenant.name, "timezone": tenant.timezone, "default_locale": tenant.default_locale}
    data.update(changes)
    return data


def test_settings_save_with_htmx_returns_the_section(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    client.get(f"/t/{tenant.slug}/settings")
    response = client.post(f"/t/{tenant.slug}/settings/general", _settings(tenant, name="Renamed", timezone="UTC"),
                           htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Settings saved." in body
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).name == "Renamed"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "tenant.settings_changed"))
    assert event.details["changes"]["timezone"] == ["America/Sao_Paulo", "UTC"]
    assert event.actor_user_id == user.id and event.tenant_id == tenant.id


def test_settings_save_without_js_redirects_with_flash(client, auth, member_of):
    user, tenant = member_of(Role.OWNER)
    auth.login(user)
    client.get(f"/t/{tenant.slug}/settings")
    response = client.post(f"/t/{tenant.slug}/settings/general", _settings(tenant))
    assert response.status_code == 302
    assert "Nothing changed." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_settings_refuse_bad_input_and_keep_what_was_stored(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    client.get(f"/t/{tenant.slug}/settings")
    for changes in ({"timezone": "Mars/Olympus"}, {"default_locale": "xx"}, {"name": ""}, {"name": "n" * 200}):
        for htmx in (True, False):
            response = client.post(f"/t/{tenant.slug}/settings/general", _settings(tenant, **changes), htmx=htmx)
            assert response.status_code == 422, changes
            assert "invalid-feedback" in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Tenant, tenant.id)
    assert (stored.name, stored.timezone, stored.default_locale) == (tenant.name, "America/Sao_Paulo", "en")


def test_settings_service_rejects_what_the_form_would_not_catch(app, member_of):
    from app.core.actor import Actor
    from app.core.errors import ValidationFailed
    from app.tenants.services import update_settings

    user, tenant = member_of(Role.ADMIN)
    for kwargs in ({"timezone": "Nowhere/Else"}, {"default_locale": "de"}, {"name": "  "}):
        args = {"name": "x", "timezone": "UTC", "default_locale": "en", **kwargs}
        try:
            update_settings(Actor(user, ip="127.0.0.1", user_agent="t", request_id="r"), tenant, **args)
        except ValidationFailed as exc:
            assert exc.field in {"timezone", "default_locale", "name"}
        else:  # pragma: no cover
            raise AssertionError(kwargs)


def test_the_time_zone_is_a_searchable_list_that_needs_no_javascript(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    body = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="timezone"[^>]*>', body).group(0)
    assert 'list="timezone-options"' in field and 'value="America/Sao_Paulo"' in field and 'type="text"' in field
    assert 'aria-describedby="timezone-help"' in field and "Type part of a name to search the list" in body
    assert '<select id="timezone"' not in body and '<datalist id="timezone-options">' in body
    assert len(re.findall(r'<option value="[^"]+"', body.split('<datalist id="timezone-options">')[1]
                          .split("</datalist>")[0])) > 300
    assert '<option value="America/Sao_Paulo" label="America/Sao Paulo">' in body
    # typed (or picked) without JavaScript: a plain POST, checked by the one time-zone check
    response = client.post(f"/t/{tenant.slug}/settings/general", _settings(tenant, timezone="Europe/Lisbon"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).timezone == "Europe/Lisbon"
    refused = client.post(f"/t/{tenant.slug}/settings/general", _settings(tenant, timezone="lisbon"))
    assert refused.status_code == 422 and "Choose a time zone from the list." in refused.get_data(as_text=True)


@pytest.mark.parametrize("htmx", [True, False])
def test_settings_say_every_refused_field_at_once(client, auth, member_of, htmx):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    response = client.post(f"/t/{tenant.slug}/settings/general",
                           {"name": "", "timezone": "Mars/Olympus", "default_locale": "xx"}, htmx=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose a time zone from the list." in body and "Choose a language from the list." in body
    assert set(re.findall(r'<a href="#([\w-]+)" class="alert-link">', body)) == {"name", "timezone", "default_locale"}


def test_settings_sent_twice_are_saved_once(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    data = _settings(tenant, name="Once", form_nonce=client.nonce())
    assert client.post(f"/t/{tenant.slug}/settings/general", data).status_code == 302
    again = client.post(f"/t/{tenant.slug}/settings/general",
                        _settings(tenant, name="Twice", form_nonce=data["form_nonce"]))
    assert again.status_code == 409 and "already sent" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).name == "Once"
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "tenant.settings_changed")).all()) == 1
