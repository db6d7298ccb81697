"""Permission pages: the "why?" panel, "check as", and searching, filtering and paging the lists."""

import re
from datetime import timedelta

import pytest

from app.core.mixins import utcnow
from app.extensions import db
from app.users.models import Role


def _rows(body):
    return re.findall(r'<tr id="rule-(\d+)"', body)


# ---------------------------------------------------------------- why? and check as


def test_why_panel_explains_a_role_default(client, team):
    admin, member, tenant = team
    response = client.get(f"/t/{tenant.slug}/permissions/why?user={member.id}&action=settings.manage",
                          headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Denied" in body and "No role default or rule grants settings.manage." in body
    assert "<li>The role member does not include settings.manage.</li>" in body
    assert '<div id="perm-check-form" hx-swap-oob="innerHTML">' in body  # the check form follows the question


def test_why_panel_names_the_rule_that_decided(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, effect="allow", target="settings.manage", reason="covering for Ana")
    response = client.get(f"/t/{tenant.slug}/permissions/why?user={member.id}&action=settings.manage")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body  # without htmx: the whole page, panel filled
    assert f"<dd class=\"col-sm-9\">ALLOW rule #{rule.id} (tenant) on settings.manage: covering for Ana</dd>" in body
    assert f"matches: ALLOW rule #{rule.id}" in body
    assert "Effective permissions of member@example.com" in body


def test_check_as_with_a_resource(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, effect="allow", target="settings.manage", resource=f"user:{admin.id}")
    url = f"/t/{tenant.slug}/permissions/check?check-user_id={member.id}&check-action=settings.manage"
    on_it = client.get(f"{url}&check-resource=user:{admin.id}", headers={"HX-Request": "true"})
    decided = f'Decided by</dt><dd class="col-sm-9">ALLOW rule #{rule.id}'
    assert on_it.status_code == 200 and decided in on_it.get_data(as_text=True)
    elsewhere = client.get(f"{url}&check-resource=user:999", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Denied" in elsewhere and "ignored: ALLOW rule" in elsewhere


@pytest.mark.parametrize(("query", "message"), [
    ("", "This field is required."),
    ("check-user_id={member}&check-action=nope.view", "nope.view is not in the catalogue."),
    ("check-user_id={member}&check-action=settings.manage&check-resource=oops", "Write the resource as type:id"),
    ("check-user_id=abc&check-action=settings.manage", "Choose a member of this tenant."),
    ("check-user_id={stranger}&check-action=settings.manage", "Choose a member of this tenant."),
])
@pytest.mark.parametrize("htmx", [True, False])
def test_check_as_refuses_bad_questions(client, team, member_of, query, message, htmx):
    admin, member, tenant = team
    stranger, _ = member_of(Role.OWNER, email="stranger@example.com")
    url = f"/t/{tenant.slug}/permissions/check?" + query.format(member=member.id, stranger=stranger.id)
    response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body and "stranger@example.com" not in body
    assert 'aria-invalid="true"' in body and ("<html" in body) is not htmx


def test_why_without_a_question_is_a_clear_422(client, team):
    response = client.get(f"/t/{team[2].slug}/permissions/why", headers={"HX-Request": "true"})
    assert response.status_code == 422 and "The check could not be made" in response.get_data(as_text=True)


# ---------------------------------------------------------------- lists


@pytest.fixture
def many_rules(team, create_user, add_rule):
    """30 rules: 20 deny on the member, 10 allow on a second member."""
    admin, member, tenant = team
    other = create_user("zed@example.com", tenant=tenant)
    deny = [add_rule(admin, tenant, member, reason=f"deny {i}") for i in range(20)]
    allow = [add_rule(admin, tenant, other, effect="allow", target="permissions.view", reason=f"grant {i}")
             for i in range(10)]
    return admin, member, other, tenant, deny, allow


def test_rules_are_paginated(client, many_rules):
    *_, tenant, deny, allow = many_rules
    first = client.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)
    assert len(_rows(first)) == 25 and "30 rules" in first and "Page 1 of 2" in first
    assert _rows(first)[0] == str(allow[-1].id)  # newest first
    assert f'href="/t/{tenant.slug}/permissions?rules_page=2"' in first
    second = client.get(f"/t/{tenant.slug}/permissions?rules_page=2", headers={"HX-Request": "true",
                                                                                "HX-Target": "div#perm-rules-list"})
    body = second.get_data(as_text=True)
    assert "<html" not in body and len(_rows(body)) == 5 and "Page 2 of 2" in body and 'rel="prev"' in body
    past_the_end = client.get(f"/t/{tenant.slug}/permissions?rules_page=9").get_data(as_text=True)
    assert "Page 2 of 2" in past_the_end


def test_rules_are_filtered_and_searched(client, many_rules):
    admin, member, other, tenant, deny, allow = many_rules
    base = f"/t/{tenant.slug}/permissions?"
    headers = {"HX-Request": "true", "HX-Target": "div#perm-rules-list"}

    def rows(query):
        return _rows(client.get(base + query, headers=headers).get_data(as_text=True))

    assert len(rows("rules_effect=allow")) == 10
    assert len(rows(f"rules_user={other.id}")) == 10
    assert len(rows("rules_module=permissions")) == 10 and rows("rules_module=settings")[0] == str(deny[-1].id)
    assert rows("rules_q=grant%207") == [str(allow[7].id)]
    assert len(rows("rules_q=ZED@")) == 10  # email, any case
    assert rows("rules_q=nothing-like-this") == []
    body = client.get(base + "rules_effect=deny&rules_q=deny", headers=headers).get_data(as_text=True)
    assert "20 rules" in body and "rules_effect=deny" in body and "rules_q=deny" in body  # pages keep the filters


def test_expired_rules_are_marked(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, expires_at=utcnow() + timedelta(hours=1))
    rule.expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert "expired</span>" in client.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)


def test_members_are_searched_and_paginated(client, team, create_user):
    admin, member, tenant = team
    for i in range(30):
        create_user(f"crew{i:02d}@example.com", tenant=tenant)
    headers = {"HX-Request": "true", "HX-Target": "div#perm-members-list"}
    body = client.get(f"/t/{tenant.slug}/permissions?members_q=CREW1", headers=headers).get_data(as_text=True)
    assert "<html" not in body and "10 members" in body and "crew15@example.com" in body
    assert "crew25@example.com" not in body and "member@example.com" not in body
    full = client.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)
    assert "32 members" in full and "Page 1 of 2" in full
    second = client.get(f"/t/{tenant.slug}/permissions?members_page=2", headers=headers).get_data(as_text=True)
    assert "Page 2 of 2" in second and "member@example.com" in second  # by email: "member@" sorts last
