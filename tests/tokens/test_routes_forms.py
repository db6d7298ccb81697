"""The token forms say every error at once, with a summary linking to each field: the create form (name and
lifetime together, each bad address line), the limits form, the token policy. The lifetime is chosen as on
GitHub and GitLab: presets showing the day they end, a day of one's own, never where the policy allows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens import services
from app.tokens.expiry import local_today
from app.tokens.models import ApiToken
from app.users.models import Role
from tests.tokens.test_routes import make_token

CREATE = {"HX-Target": "div#tokens-create"}


@pytest.fixture
def team(member_of, create_user, create_tenant):
    """An admin and a member of one tenant (São Paulo time); nobody signed in yet."""
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(timezone="America/Sao_Paulo"),
                              email="admin@example.com")
    return admin, create_user("member@example.com", tenant=tenant, role=Role.MEMBER), tenant


def _tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(ApiToken).execution_options(all_tenants=True)))


def _form(**changes) -> dict:
    return {"new-name": "deploy bot", "new-scope": "read", "new-expires": "30", **changes}


def _select(body: str, name: str) -> str:
    return body.split(f'name="{name}"')[1].split("</select>")[0]


def test_lifetime_presets_show_the_day_they_end(client, auth, team):
    _, member, tenant = team
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    options = _select(body, "new-expires")
    for days in (7, 30, 60):
        day = local_today(utcnow() + timedelta(days=days), tenant.timezone)
        assert f'value="{days}">{days} days, until {day.strftime("%b")} {day.day}, {day.year}<' in options
    assert 'selected value="90">90 days, until' in options and "(this tenant&#39;s default)" in options
    assert 'value="custom"' in options and 'value="never"' not in options  # the policy requires an expiry
    assert 'type="date"' in body and f'max="{local_today(utcnow(), tenant.timezone) + timedelta(days=365)}"' in body


def test_a_day_of_ones_own_and_never_where_allowed(client, auth, team):
    admin, member, tenant = team
    services.update_token_policy(Actor(admin), tenant, default_days=45, max_days=60, allow_no_expiry=True,
                                 rotation_grace_minutes=5)
    db.session.commit()
    auth.login(member)
    options = _select(client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True), "new-expires")
    assert 'selected value="45"' in options and 'value="60"' in options and 'value="90"' not in options
    assert 'value="never"' in options
    today = local_today(utcnow(), tenant.timezone)
    day = today + timedelta(days=20)
    assert client.post(f"/t/{tenant.slug}/tokens", _form(**{"new-name": "custom", "new-expires": "custom",
                                                            "new-expires_on": day.isoformat()})).status_code == 303
    assert client.post(f"/t/{tenant.slug}/tokens", _form(**{"new-name": "forever",
                                                            "new-expires": "never"})).status_code == 303
    tokens = {t.name: t for t in _tokens()}
    assert local_today(tokens["custom"].expires_at, tenant.timezone) == day
    assert tokens["forever"].expires_at is None
    far = (today + timedelta(days=61)).isoformat()
    too_far = client.post(f"/t/{tenant.slug}/tokens", _form(**{"new-expires": "custom", "new-expires_on": far}))
    assert too_far.status_code == 422 and "Choose a day from" in too_far.get_data(as_text=True)
    assert len(_tokens()) == 2


def test_every_create_error_at_once_with_a_summary_linking_to_each_field(client, auth, team):
    _, member, tenant = team
    auth.login(member)
    past = (local_today(utcnow(), tenant.timezone) - timedelta(days=1)).isoformat()
    data = _form(**{"new-name": "", "new-expires": "custom", "new-expires_on": past, "new-rate_limit": "0",
                    "new-ip_allow": "10.0.0.0/8\nnot-an-ip\n::1/200\n192.0.2.1"})
    for htmx in (False, True):
        response = client.post(f"/t/{tenant.slug}/tokens", data, htmx=htmx, headers=CREATE)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        summary = body.split("Some fields need attention.")[1].split("</ul>")[0]
        for field, message in (("new-name", "This field is required."), ("new-expires_on", "Choose a day from"),
                               ("new-rate_limit", "The limit is 1 to 100000"),
                               ("new-ip_allow", "These are not IP addresses or CIDR ranges: not-an-ip, ::1/200.")):
            assert f'href="#{field}"' in summary and message in summary, (field, summary)
        # in the order the form shows its fields: the token's own, then its limits
        shown = ("new-name", "new-expires_on", "new-rate_limit", "new-ip_allow")
        order = [summary.index(f'href="#{f}"') for f in shown]
        assert order == sorted(order), summary
        assert body.count('aria-invalid="true"') == 4
    assert _tokens() == []


def test_limits_say_each_bad_address_and_the_rate_at_once(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant, rate_limit=10)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}/limits"
    response = client.post(url, {"rate_limit": "0", "ip_allow": "::1/200\n10.0.0.0/8\n300.1.1.1",
                                 "ip_deny": "nope"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "These are not IP addresses or CIDR ranges: ::1/200, 300.1.1.1." in body
    assert "nope is not an IP address or CIDR range." in body and "The limit is 1 to 100000" in body
    for field in ("rate_limit", "ip_allow", "ip_deny"):
        assert f'href="#{field}"' in body
    db.session.expire_all()
    assert db.session.get(ApiToken, issued.token.id).rate_limit == 10


def test_the_token_policy_says_every_error_at_once(client, auth, team):
    admin, _, tenant = team
    auth.login(admin)
    data = {"policy-default_days": "200", "policy-max_days": "100", "policy-rotation_grace_minutes": "-1"}
    for htmx in (True, False):
        response = client.post(f"/t/{tenant.slug}/settings/tokens", data, htmx=htmx)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "The default lifetime is 1 day up to the maximum." in body
        assert "The grace period is 0 to 10080 minutes (7 days)." in body
        assert 'href="#policy-default_days"' in body and 'href="#policy-rotation_grace_minutes"' in body
    db.session.expire_all()
    assert services.token_policy(tenant.id).max_days == 365
