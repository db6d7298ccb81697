"""Revoking and rotating ask first, with or without JavaScript: the token's page and the list's rows lead to a
page that asks (GET .../revoke, .../rotate), whose form posts; with htmx a dialog asks instead."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.tokens import services
from app.users.models import Role
from tests.tokens.helpers import reload_token
from tests.tokens.test_routes import make_token


def _forms(body: str) -> list[tuple[str, str]]:
    """(method, action) of every form of a page."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r'<form[^>]*method="(\w+)"[^>]*action="([^"]+)"', body)]


def test_without_javascript_the_tokens_page_asks_before_revoking_or_rotating(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}"
    forms = _forms(client.get(url).get_data(as_text=True))
    # no form of the page posts to revoke or rotate: without JavaScript they open the page that asks
    assert ("get", f"{url}/revoke") in forms and ("get", f"{url}/rotate") in forms
    assert not [f for f in forms if f[0] == "post" and f[1].endswith(("/revoke", "/rotate"))]

    asked = client.get(f"{url}/revoke", query_string={"reason": "laptop stolen"})
    body = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Revoke token “ci”?" in body and "This cannot be undone." in body
    assert ("post", f"{url}/revoke") in _forms(body) and 'name="form_nonce"' in body
    assert 'value="laptop stolen"' in body  # the reason typed on the token's page comes along
    assert reload_token(issued.token).revoked_at is None  # asking changes nothing

    response = client.post(f"{url}/revoke", {"reason": "laptop stolen"})
    assert response.status_code == 302 and response.headers["Location"] == url
    token = reload_token(issued.token)
    assert token.status() == "revoked" and token.revoke_reason == "laptop stolen"
    assert "This token was already revoked." in client.get(f"{url}/revoke").get_data(as_text=True)

    fresh = make_token(member, tenant, "fresh")
    asked = client.get(f"/t/{tenant.slug}/tokens/{fresh.token.id}/rotate").get_data(as_text=True)
    assert "Rotate token “fresh”?" in asked and "keeps working for 60 minutes" in asked
    assert ("post", f"/t/{tenant.slug}/tokens/{fresh.token.id}/rotate") in _forms(asked)
    assert reload_token(fresh.token).successor_id is None


def test_the_list_offers_revoke_and_rotate_in_each_row_with_the_tokens_name(client, auth, team):
    admin, member, tenant = team
    mine = make_token(admin, tenant, "deploy")
    theirs = make_token(member, tenant, "backup")
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    row = body.split(f'<tr id="token-{mine.token.id}"')[1].split("</tr>")[0]
    assert f'/tokens/{mine.token.id}/rotate?back=list"' in row and f'/tokens/{mine.token.id}/revoke?back=list"' in row
    # identical link names get the token's name, for screen readers
    assert 'Revoke<span class="visually-hidden"> token “deploy”</span>' in row
    assert 'Rotate<span class="visually-hidden"> token “deploy”</span>' in row
    other = body.split(f'<tr id="token-{theirs.token.id}"')[1].split("</tr>")[0]
    assert "/revoke?back=list" in other and "/rotate" not in other  # only its owner rotates
    # from the list, the question leads back to the list
    asked = client.get(f"/t/{tenant.slug}/tokens/{theirs.token.id}/revoke?back=list").get_data(as_text=True)
    assert 'name="back" type="hidden" value="list"' in asked or 'type="hidden" name="back" value="list"' in asked
    assert f'href="/t/{tenant.slug}/tokens">Cancel' in asked
    response = client.post(f"/t/{tenant.slug}/tokens/{theirs.token.id}/revoke", {"back": "list"})
    assert response.status_code == 302 and response.headers["Location"] == f"/t/{tenant.slug}/tokens"
    assert reload_token(theirs.token).status() == "revoked"


def test_from_a_filtered_list_the_question_leads_back_to_the_list_as_it_was(client, auth, team):
    admin, member, tenant = team
    theirs = make_token(member, tenant, "backup")
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/tokens?q=back&sort=name&junk=1").get_data(as_text=True)
    row = body.split(f'<tr id="token-{theirs.token.id}"')[1].split("</tr>")[0]
    asking = f"/t/{tenant.slug}/tokens/{theirs.token.id}/revoke?back=list&amp;q=back&amp;sort=name"
    assert f'href="{asking}"' in row
    asked = client.get(asking.replace("&amp;", "&")).get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/tokens?q=back&amp;sort=name">Cancel' in asked
    action = f"/t/{tenant.slug}/tokens/{theirs.token.id}/revoke?q=back&amp;sort=name"
    assert ("post", action) in _forms(asked)
    response = client.post(action.replace("&amp;", "&"), {"back": "list"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant.slug}/tokens?q=back&sort=name"
    assert reload_token(theirs.token).status() == "revoked"


def test_rotating_from_the_list_ends_on_the_new_tokens_page(client, auth, team):
    _, member, tenant = team
    issued = make_token(member, tenant, "deploy")
    auth.login(member)
    response = client.post(f"/t/{tenant.slug}/tokens/{issued.token.id}/rotate", {"back": "list"})
    successor = reload_token(issued.token).successor_id
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{tenant.slug}/tokens/{successor}"


def test_the_pages_that_ask_refuse_what_the_viewer_may_not_do(client, auth, team, create_user):
    admin, member, tenant = team
    owner = create_user("owner@example.com", tenant=tenant, role=Role.OWNER)
    owners = make_token(owner, tenant, "owner's")
    members = make_token(member, tenant, "member's")
    auth.login(admin)
    revoke = client.get(f"/t/{tenant.slug}/tokens/{owners.token.id}/revoke").get_data(as_text=True)
    assert "ranks above yours" in revoke and "form_nonce" not in revoke
    rotate = client.get(f"/t/{tenant.slug}/tokens/{members.token.id}/rotate").get_data(as_text=True)
    assert "Only its owner can rotate" in rotate and "form_nonce" not in rotate
    refused = client.post(f"/t/{tenant.slug}/tokens/{members.token.id}/rotate", {})
    assert refused.status_code == 403 and not re.search(r"hbx_p_[0-9A-Za-z]{30}", refused.get_data(as_text=True))
    assert reload_token(members.token).successor_id is None
    services.revoke_token(None, members.token, reason="gone")
    db.session.commit()
    assert "Only an active token can be rotated." in client.get(
        f"/t/{tenant.slug}/tokens/{members.token.id}/rotate").get_data(as_text=True)
    auth.logout()
    auth.login(member)  # a member sees only their own tokens: another's question is not found
    assert client.get(f"/t/{tenant.slug}/tokens/{owners.token.id}/revoke").status_code == 404


@pytest.mark.parametrize("reason, refused", [("x" * 501, True), ("a\x01b", True), ("  fine ", False)])
def test_a_bad_reason_is_said_on_the_page_that_asks_and_nothing_is_revoked(client, auth, team, reason, refused):
    _, member, tenant = team
    issued = make_token(member, tenant)
    auth.login(member)
    url = f"/t/{tenant.slug}/tokens/{issued.token.id}/revoke"
    response = client.post(url, {"reason": reason})
    if refused:
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and "Revoke token “ci”?" in body and 'aria-invalid="true"' in body
        assert 'href="#revoke-reason"' in body  # the summary links to the field
        assert reload_token(issued.token).revoked_at is None
    else:
        assert response.status_code == 302 and reload_token(issued.token).revoke_reason == "fine"
