"""Token pages: create with a one-time reveal, the list with its filters and pages, who sees what; the
dashboard card and the navigation. One token's page (usage, revoke, rotate, limits) and the policy
settings are in test_routes_detail.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.services import create_rule
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import Role

SECRET_RE = re.compile(r'id="token-secret"[^>]*>(hbx_p_[0-9A-Za-z]+)</textarea>')
CREATE = {"HX-Target": "div#tokens-create"}
LIST = {"HX-Target": "div#tokens-list"}


def make_token(owner, tenant, name="ci", scope="read", **kwargs):
    issued = services.create_token(None, tenant, owner, name=name, scope=scope, **kwargs)
    db.session.commit()
    return issued


def _form(**changes) -> dict:
    data = {"new-name": "deploy bot", "new-scope": "read", "new-expires": "30"}
    data.update(changes)
    return data


def _tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(ApiToken).execution_options(all_tenants=True)))


# ---------------------------------------------------------------- create and the one-time reveal


def test_create_redirects_then_reveals_the_secret_once_and_stores_only_its_digest(client, auth, team):
    _, member, tenant = team
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens"
    page = client.get(url).get_data(as_text=True)
    assert "Create a token" in page and "No token yet." in page

    response = client.post(url, _form())
    assert response.status_code == 303 and response.headers["Location"] == url  # post/redirect/get
    assert "hbx_p_" not in response.get_data(as_text=True)
    assert "hbx_p_" not in "; ".join(response.headers.getlist("Set-Cookie"))  # kept encrypted in the session
    shown = client.get(url)
    body = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    [secret] = SECRET_RE.findall(body)
    assert "It will not be shown again" in body and 'data-copy-target="token-secret"' in body
    assert re.search(r'<textarea[^>]*id="token-secret"[^>]*readonly', body)

    [token] = _tokens()
    assert token.user_id == member.id and token.name == "deploy bot" and token.scope.value == "read"
    assert token.digest == crypto().digest(secret) and token.hint == f"{secret[:6]}…{secret[-4:]}"
    assert secret not in repr([getattr(token, c.key) for c in ApiToken.__table__.columns])
    assert 29 <= (token.expires_at - utcnow()).days <= 30
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.created")).all()
    assert events and all(secret not in repr(e.details) for e in events)

    # Never again: not on a reload, not on its page, not in a flash message.
    for later in (client.get(url), client.get(f"{url}/{token.id}"), client.get(f"/t/{tenant.slug}/")):
        text = later.get_data(as_text=True)
        assert later.status_code == 200 and secret not in text and not SECRET_RE.search(text)
    assert token.hint in client.get(url).get_data(as_text=True)


def test_a_repeated_create_makes_one_token_and_the_first_secret_is_still_shown(client, auth, team):
    """A double click or a reload of the POST without JavaScript: the form's nonce acts once."""
    _, member, tenant = team
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens"
    data = _form(form_nonce=client.nonce())
    first = client.post(url, data)
    again = client.post(url, data)
    assert first.status_code == 303 and again.status_code == 409
    assert "already sent" in again.get_data(as_text=True) and not SECRET_RE.search(again.get_data(as_text=True))
    [token] = _tokens()
    [secret] = SECRET_RE.findall(client.get(url).get_data(as_text=True))
    assert token.digest == crypto().digest(secret)


def test_create_with_htmx_reveals_after_the_redirect_and_refreshes_the_list(client, auth, team):
    _, member, tenant = team
    auth.login(member)
    response = client.post(f"/t/{tenant.slug}/tokens", _form(q="deploy", sort="name"), htmx=True, headers=CREATE)
    assert response.status_code == 303 and "hbx_p_" not in response.headers["Location"]
    assert response.headers["Location"] == f"/t/{tenant.slug}/tokens?q=deploy&sort=name"  # the list as on screen
    # htmx's fetch follows the redirect with the same headers
    shown = client.get(response.headers["Location"], headers={"HX-Request": "true", **CREATE})
    body = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "<html" not in body and shown.headers["Cache-Control"] == "no-store"
    assert len(SECRET_RE.findall(body)) == 1 and 'id="token-reveal"' in body
    assert 'id="tokens-list" hx-swap-oob="innerHTML"' in body and "Token “deploy bot” created." in body
    assert "1 token" in body
    # "I have copied it" asks for a fresh form in place of the reveal, its first field focused.
    fresh = client.get(f"/t/{tenant.slug}/tokens", headers={"HX-Request": "true", **CREATE}).get_data(as_text=True)
    assert 'id="create-form"' in fresh and "hbx_p_" not in fresh
    assert re.search(r'<input[^>]*autofocus[^>]*id="new-name"|<input[^>]*id="new-name"[^>]*autofocus', fresh)
    assert 'hx-sync="this:drop"' in fresh  # a second click while the first is in flight is dropped


@pytest.mark.parametrize("changes, status, message", [
    ({"new-name": ""}, 422, "This field is required."),
    ({"new-scope": "admin"}, 403, "The owner may not use the admin scope here."),
    ({"new-expires": "400"}, 422, "Not a valid choice."),
    ({"new-expires": "never"}, 422, "Not a valid choice."),
    ({"new-expires": "custom", "new-expires_on": ""}, 422, "Choose the day the token expires."),
    ({"new-ip_allow": "10.0.0.0/8\nnot-an-ip"}, 422, "not-an-ip is not an IP address or CIDR range."),
    ({"new-rate_limit": "0"}, 422, "The limit is 1 to 100000 requests per minute."),
])
def test_create_refusals_say_what_is_wrong(client, auth, team, changes, status, message):
    _, member, tenant = team
    auth.login(member)
    for htmx in (True, False):
        response = client.post(f"/t/{tenant.slug}/tokens", _form(**changes), htmx=htmx, headers=CREATE)
        body = response.get_data(as_text=True)
        assert response.status_code == status and message in body, body
        assert ("<html" in body) is not htmx and "hbx_p_" not in body
    assert _tokens() == []


def test_scopes_offered_stop_at_the_owners_highest(client, auth, team):
    admin, member, tenant = team
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    assert 'value="read"' in body and 'option value="write"' not in body.split('id="tokens-filter"')[0]
    auth.logout()
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True).split('id="tokens-filter"')[0]
    assert 'option value="admin"' in body


def test_no_api_permission_no_token_and_the_page_says_why_and_whom_to_ask(client, auth, team):
    admin, member, tenant = team
    create_rule(Actor(admin), tenant, user_id=member.id, effect="deny", target="api.*", reason="no API")
    db.session.commit()
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    assert "You cannot create API tokens here." in body and 'id="create-form"' not in body
    why = body.split('id="tokens-why-not"')[1].split("</div>")[0]
    assert "Denied by" in why and "no API" in why and "admin@example.com" in why
    response = client.post(f"/t/{tenant.slug}/tokens", _form())
    assert response.status_code == 403 and "You cannot create API tokens here." in response.get_data(as_text=True)
    assert _tokens() == []


def test_a_member_who_may_not_create_sees_the_reason_and_the_admins(client, auth, team, create_user):
    admin, member, tenant = team
    create_user("owner@example.com", tenant=tenant, role=Role.OWNER, name="Olga Owner")
    create_user("manager@example.com", tenant=tenant, role=Role.MANAGER, name="Max Manager")
    create_rule(Actor(admin), tenant, user_id=member.id, effect="deny", target="tokens.create",
                reason="tokens come from IT")
    db.session.commit()
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    why = body.split('id="tokens-why-not"')[1].split("</div>")[0]
    assert "You cannot create API tokens here." in why and "tokens come from IT" in why
    assert "admin@example.com" in why and "Olga Owner" in why and "Max Manager" not in why
    assert 'id="create-form"' not in body and "No token yet." in body
    assert client.post(f"/t/{tenant.slug}/tokens", _form()).status_code == 403


# ---------------------------------------------------------------- the list


def _list(client, tenant, **args) -> str:
    response = client.get(f"/t/{tenant.slug}/tokens", query_string=args, headers={"HX-Request": "true", **LIST})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    return body


def test_admin_filters_by_status_scope_owner_search_and_expiry(client, auth, team):
    admin, member, tenant = team
    make_token(member, tenant, "alpha")
    make_token(admin, tenant, "beta", scope="write")
    gamma = make_token(member, tenant, "gamma").token
    services.revoke_token(None, gamma, reason="leaked")
    make_token(member, tenant, "delta", expires_in_days=3)
    epsilon = make_token(admin, tenant, "epsilon").token
    epsilon.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    auth.login(admin)

    def names(**args):
        return set(re.findall(r'">(alpha|beta|gamma|delta|epsilon)</a>', _list(client, tenant, **args)))

    assert names() == {"alpha", "beta", "gamma", "delta", "epsilon"}
    assert names(status="revoked") == {"gamma"}
    assert names(status="expired") == {"epsilon"}
    assert names(status="active") == {"alpha", "beta", "delta"}
    assert names(scope="write") == {"beta"}
    assert names(owner=member.id) == {"alpha", "gamma", "delta"}
    assert names(q="ALP") == {"alpha"}
    assert names(q="admin@") == {"beta", "epsilon"}
    assert names(expiring=7) == {"delta"}
    assert names(status="bogus", scope="x", expiring=99, owner="nope") == names()  # odd values are ignored
    full = client.get(f"/t/{tenant.slug}/tokens?owner={member.id}").get_data(as_text=True)
    assert "Tokens of this tenant" in full and f'<option value="{member.id}" selected>' in full


def test_pages_of_twenty(client, auth, team):
    admin, _, tenant = team
    for n in range(23):
        make_token(admin, tenant, f"token-{n:02d}")
    auth.login(admin)
    first = _list(client, tenant)
    assert "23 tokens" in first and "Page 1 of 2" in first and first.count('<tr id="token-') == 20
    assert "token-22" in first and 'rel="next"' in first
    second = _list(client, tenant, page=2)
    assert second.count('<tr id="token-') == 3 and "token-00" in second
    assert _list(client, tenant, page=9).count('<tr id="token-') == 3  # past the end: the last page


def test_a_member_sees_only_their_own_tokens(client, auth, team):
    admin, member, tenant = team
    make_token(member, tenant, "mine")
    theirs = make_token(admin, tenant, "theirs").token
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens?owner={admin.id}").get_data(as_text=True)
    assert "Your tokens" in body and ">mine</a>" in body and "theirs" not in body
    assert 'id="tokens-owner"' not in body
    assert client.get(f"/t/{tenant.slug}/tokens/{theirs.id}").status_code == 404
    for action in ("revoke", "rotate", "limits"):
        assert client.post(f"/t/{tenant.slug}/tokens/{theirs.id}/{action}", {}).status_code == 404
    assert _tokens()[0].revoked_at is None and theirs.successor_id is None


# ---------------------------------------------------------------- navigation and dashboard


def test_nav_and_dashboard_card(client, auth, team):
    admin, member, tenant = team
    make_token(member, tenant, "soon", expires_in_days=2)
    make_token(admin, tenant, "later")
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/tokens"' in body and 'id="card-tokens"' in body
    card = body.split('id="card-tokens"')[1].split("</section>")[0]
    assert "active token of yours" in card and "Expiring within 7 days" in card and "Whole tenant" not in card
    auth.logout()
    auth.login(admin)
    card = client.get(f"/t/{tenant.slug}/").get_data(as_text=True).split('id="card-tokens"')[1]
    assert re.search(r"Active tokens</dt><dd[^>]*>2<", card)
