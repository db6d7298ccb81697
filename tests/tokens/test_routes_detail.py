"""One token's page: fields, usage chart after real API calls, revoke and rotate (htmx and without
JavaScript), limits; the token policy section of tenant settings; other tenants' tokens are 404."""

from __future__ import annotations

import re

import pytest

from app.core.actor import Actor
from app.core.crypto import crypto
from app.extensions import db
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import Role
from tests.tokens.helpers import reload_token
from tests.tokens.test_routes import SECRET_RE, make_token

DETAIL = {"HX-Target": "div#token-detail"}
LIMITS = {"HX-Target": "div#token-limits"}


def _call_api(client, secret: str, times: int = 1, agent: str = "backup-script/1.0"):
    for _ in range(times):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}", "User-Agent": agent})
    return response


def test_the_page_shows_usage_per_day_and_recent_requests(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant, "backup")
    assert _call_api(client, issued.secret, 3).status_code == 200
    auth.login(member)
    response = client.get(f"/t/{tenant.slug}/tokens/{issued.token.id}")  # flushes the buffered usage
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and issued.secret not in body and issued.token.hint in body
    assert issued.token.digest not in body
    assert "3 accepted requests, 0 refused · last 30 days" in body
    assert '<svg class="usage-chart"' in body and 'role="img"' in body
    assert body.count('<g class="day">') == 30 and re.search(r"<title>[^<]*: 3 accepted, 0 refused</title>", body)
    assert "Requests per day as a table" in body and '<td class="text-end">3</td>' in body
    assert body.count("GET /api/v1/me") == 3 and "backup-script/1.0" in body and "127.0.0.1" in body
    # addresses and clients stay on one line (the table scrolls inside its box)
    assert '<td class="text-nowrap">127.0.0.1</td>' in body and '<td class="text-nowrap">backup-script/1.0</td>' in body
    assert "Active" in body and 'id="limits-form"' in body and 'id="rotate-submit"' in body


def test_revoke_without_javascript(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    response = client.post(f"{url}/revoke", {"reason": "laptop stolen"})
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    body = client.get(url).get_data(as_text=True)
    assert "Token “ci” revoked." in body
    assert "laptop stolen" in body and 'id="revoke-submit"' not in body
    token = reload_token(issued.token)
    assert token.status() == "revoked" and token.revoke_reason == "laptop stolen" and token.revoked_by_id == member.id
    assert _call_api(client, issued.secret).status_code == 401


def test_revoke_with_htmx_asks_first_and_swaps_the_details(client, auth, team):
    admin, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(admin)  # an admin may revoke a member's token
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'hx-confirm="Revoke “ci”' in page and "This cannot be undone." in page
    response = client.post(f"{url}/revoke", {}, htmx=True, headers=DETAIL)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Token “ci” revoked." in body
    assert reload_token(issued.token).revoke_reason == "manual"
    again = client.post(f"{url}/revoke", {"reason": "twice"}, htmx=True, headers=DETAIL)
    assert "already revoked" in again.get_data(as_text=True) and reload_token(issued.token).revoke_reason == "manual"


def test_rotate_without_javascript_redirects_to_the_new_tokens_page_which_shows_the_secret_once(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant, rate_limit=30, ip_allow=["10.0.0.0/8"])
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    assert "keeps working for 60 minutes" in client.get(url).get_data(as_text=True)
    data = {"form_nonce": client.nonce()}
    response = client.post(f"{url}/rotate", data)
    old = reload_token(issued.token)
    successor = db.session.get(ApiToken, old.successor_id)
    # the address bar leaves /rotate: a GET of the new token's page
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{tenant.slug}/tokens/{successor.id}"
    assert "hbx_p_" not in response.get_data(as_text=True)
    shown = client.get(response.headers["Location"])
    body = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    [secret] = SECRET_RE.findall(body)
    assert successor.digest == crypto().digest(secret) and "was rotated" in body and "keeps working until" in body
    assert old.status() == "rotated" and successor.rate_limit == 30 and successor.ip_allow == ["10.0.0.0/8"]
    later = client.get(f"/t/{tenant.slug}/tokens/{successor.id}").get_data(as_text=True)  # a reload
    assert secret not in later and "Rotation chain" in later and old.hint in later
    # the same form again (a reload of the POST, a double click): nothing rotates twice
    again = client.post(f"{url}/rotate", data)
    assert again.status_code == 409 and "already sent" in again.get_data(as_text=True)
    # a fresh form on the old token: only an active token rotates, and the page says so
    refused = client.post(f"{url}/rotate", {})
    assert refused.status_code == 409 and "Only an active token can be rotated." in refused.get_data(as_text=True)
    assert len(services.token_chain(successor)) == 2


def test_rotate_with_htmx_sends_the_browser_to_the_new_tokens_page(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'hx-post="' + url + '/rotate"' in page and 'hx-confirm="Rotate “ci”?' in page
    response = client.post(f"{url}/rotate", {}, htmx=True, headers=DETAIL)
    successor = db.session.get(ApiToken, reload_token(issued.token).successor_id)
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    assert response.headers["HX-Redirect"] == f"/t/{tenant.slug}/tokens/{successor.id}"
    body = client.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    [secret] = SECRET_RE.findall(body)
    assert successor.digest == crypto().digest(secret)
    # "I have copied it": the page's details again, without the secret, focus on their heading
    done = client.get(response.headers["HX-Redirect"], headers={"HX-Request": "true", **DETAIL})
    text = done.get_data(as_text=True)
    assert "<html" not in text and secret not in text and 'id="details-title" tabindex="-1" autofocus' in text


def test_limits_are_saved_normalised(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}/limits"
    data = {"rate_limit": "120", "ip_allow": "10.1.2.3/8\n2001:db8::/32", "ip_deny": "10.9.9.9",
            "device_binding": "y"}
    response = client.post(url, data, htmx=True, headers=LIMITS)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Limits saved." in body and "<html" not in body
    token = reload_token(issued.token)
    assert token.rate_limit == 120 and token.ip_allow == ["10.0.0.0/8", "2001:db8::/32"]
    assert token.ip_deny == ["10.9.9.9/32"] and token.device_binding is True
    assert client.post(url, {"rate_limit": ""}).status_code == 302  # without JS: back to the page
    token = reload_token(issued.token)
    assert token.rate_limit is None and token.ip_allow == [] and token.device_binding is False


@pytest.mark.parametrize("data, message", [
    ({"ip_allow": "10.0.0.0/8\nnot-a-cidr"}, "not-a-cidr is not an IP address or CIDR range."),
    ({"ip_deny": "300.1.1.1"}, "300.1.1.1 is not an IP address or CIDR range."),
    ({"rate_limit": "0"}, "The limit is 1 to 100000 requests per minute."),
    ({"rate_limit": "many"}, "Not a valid integer value."),
])
def test_bad_limits_are_refused_and_nothing_changes(client, auth, team, data, message):
    _, member, tenant = team
    issued = make_token(member, tenant, rate_limit=10, ip_allow=["192.168.0.0/16"])
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}/limits"
    for htmx in (True, False):
        response = client.post(url, {"rate_limit": "50", **data}, htmx=htmx, headers=LIMITS)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body and ("<html" in body) is not htmx
        assert 'aria-invalid="true"' in body
    token = reload_token(issued.token)
    assert token.rate_limit == 10 and token.ip_allow == ["192.168.0.0/16"] and token.ip_deny == []


def test_a_revoked_tokens_limits_do_not_change(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant, rate_limit=10)
    services.revoke_token(None, issued.token, reason="done")
    db.session.commit()
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="limits-form"' not in page and "10 requests per minute" in page
    response = client.post(f"{url}/limits", {"rate_limit": "99"}, htmx=True, headers=LIMITS)
    assert response.status_code == 409 and "its limits cannot change" in response.get_data(as_text=True)
    assert reload_token(issued.token).rate_limit == 10


def test_another_tenants_token_is_not_found(client, auth, team, member_of):
    admin, _, tenant = team
    stranger, elsewhere = member_of(Role.OWNER)
    foreign = make_token(stranger, elsewhere, "foreign").token
    auth.login(admin)
    base = f"/t/{tenant.slug}/tokens/{foreign.id}"
    assert client.get(base).status_code == 404
    for action in ("revoke", "rotate", "limits"):
        assert client.post(f"{base}/{action}", {"rate_limit": "5"}).status_code == 404
    token = reload_token(foreign)
    assert token.revoked_at is None and token.successor_id is None and token.rate_limit is None
    assert client.get(f"/t/{tenant.slug}/tokens/99999").status_code == 404


# ---------------------------------------------------------------- the token policy in tenant settings


def _policy(**changes) -> dict:
    data = {"policy-default_days": "30", "policy-max_days": "180", "policy-rotation_grace_minutes": "15",
            "policy-allow_no_expiry": "y"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_policy_section_saves_with_htmx(client, auth, team):
    admin, _, tenant = team
    auth.login(admin)
    page = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    assert 'id="section-tokens"' in page and 'id="settings-tokens"' in page and 'value="90"' in page
    response = client.post(f"/t/{tenant.slug}/settings/tokens", _policy(), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Token policy saved." in body and "<html" not in body
    db.session.expire_all()
    policy = services.token_policy(tenant.id)
    assert (policy.default_days, policy.max_days, policy.rotation_grace_minutes) == (30, 180, 15)
    assert policy.allow_no_expiry is True
    response = client.post(f"/t/{tenant.slug}/settings/tokens", _policy(**{"policy-allow_no_expiry": None}))
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings#section-tokens")
    db.session.expire_all()
    assert services.token_policy(tenant.id).allow_no_expiry is False


@pytest.mark.parametrize("changes, message", [
    ({"policy-default_days": "200"}, "The default lifetime is 1 day up to the maximum."),
    ({"policy-max_days": "5000"}, "The maximum lifetime is 1 to 3650 days."),
    ({"policy-rotation_grace_minutes": "-1"}, "The grace period is 0 to 10080 minutes (7 days)."),
    ({"policy-max_days": ""}, "This field is required."),
])
def test_policy_refusals(client, auth, team, changes, message):
    admin, _, tenant = team
    services.update_token_policy(Actor(admin), tenant, default_days=10, max_days=20, allow_no_expiry=False,
                                 rotation_grace_minutes=1)
    db.session.commit()
    auth.login(admin)
    for htmx in (True, False):
        response = client.post(f"/t/{tenant.slug}/settings/tokens", _policy(**changes), htmx=htmx)
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and message in body and ("<html" in body) is not htmx
    db.session.expire_all()
    assert services.token_policy(tenant.id).max_days == 20


def test_members_cannot_change_the_policy(client, auth, team):
    _, member, tenant = team
    auth.login(member)
    response = client.post(f"/t/{tenant.slug}/settings/tokens", _policy())
    assert response.status_code == 403
    assert services.token_policy(tenant.id).max_days == 365


def test_names_and_reasons_are_escaped(client, auth, team):
    _, member, tenant = team
    evil = '<img src=x onerror=alert(1)>"'
    issued = make_token(member, tenant, evil)
    services.revoke_token(None, issued.token, reason=evil)
    db.session.commit()
    auth.login(member)
    for url in (f"/t/{tenant.slug}/tokens", f"/t/{tenant.slug}/tokens/{issued.token.id}"):
        body = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
