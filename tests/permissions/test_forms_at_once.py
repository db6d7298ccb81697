"""Every refused field at once, on the add-rule form and on "check as", each named and linked from the summary;
the "why?" panel of a denial names what the deny overrode, and says the verdict once."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.permissions.models import PermissionRule


def _summary_links(body: str) -> set[str]:
    return set(re.findall(r'<a href="#([\w-]+)" class="alert-link">', body))


@pytest.mark.parametrize("htmx", [True, False])
def test_add_rule_flags_every_bad_field_in_one_answer(client, team, htmx):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules", {
        "user_id": str(member.id), "effect": "maybe", "target": "nope.*", "resource": "not a resource",
        "expires_at": "2001-01-01T10:00", "reason": ""}, htmx=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("Choose allow or deny.", "nope.* is not in the catalogue.",
                    "Write the resource as type:id, e.g. user:42.", "The expiry must be in the future.",
                    "This field is required."):
        assert message in body, message
    assert _summary_links(body) == {"effect", "target", "resource", "expires_at", "reason"}
    assert body.count('aria-invalid="true"') == 5
    assert db.session.scalar(select(PermissionRule)) is None


def test_the_address_a_refused_submit_leaves_opens_the_page(client, team):
    # Without JavaScript the refused form answers at the address it was posted to; opening (or reloading) that
    # address must not be "405 Method Not Allowed": it lands on the page, showing what it showed.
    admin, member, tenant = team
    response = client.get(f"/t/{tenant.slug}/permissions/rules?user={member.id}&rules_effect=deny&junk=1")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant.slug}/permissions?user={member.id}&rules_effect=deny"


def test_a_resource_and_a_past_expiry_are_flagged_beside_a_missing_reason(client, team):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules", {
        "user_id": str(member.id), "effect": "deny", "target": "settings.*", "resource": "widget:1",
        "expires_at": "2001-01-01T10:00", "reason": ""}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "Unknown resource type widget." in body
    assert _summary_links(body) == {"resource", "expires_at", "reason"}


@pytest.mark.parametrize("htmx", [True, False])
def test_check_as_names_the_fields_it_needs_and_says_every_error(client, team, htmx):
    admin, member, tenant = team
    headers = {"HX-Request": "true"} if htmx else {}
    empty = client.get(f"/t/{tenant.slug}/permissions/check", headers=headers).get_data(as_text=True)
    assert '<a href="#check-user_id" class="alert-link">Member</a>: This field is required.' in empty
    assert '<a href="#check-action" class="alert-link">Action</a>: This field is required.' in empty
    assert "Choose a member and an action; a resource is optional." in empty
    response = client.get(f"/t/{tenant.slug}/permissions/check?check-user_id=99999&check-action=nope.view"
                          "&check-resource=oops", headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Member</a>: Choose a member of this tenant." in body
    assert "Action</a>: nope.view is not in the catalogue." in body
    assert "Resource (optional)</a>: Write the resource as type:id, e.g. user:42." in body


def test_why_a_denial_names_what_it_overrode_and_says_denied_once(client, team, add_rule):
    admin, member, tenant = team
    allow = add_rule(admin, tenant, member, effect="allow", target="dashboard.view", reason="covering")
    deny = add_rule(admin, tenant, member, effect="deny", target="dashboard.*", reason="on leave")
    response = client.get(f"/t/{tenant.slug}/permissions/why?user={member.id}&action=dashboard.view",
                          headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    why = body[:body.index('id="perm-check-form"')]
    assert f'Decided by</dt><dd class="col-sm-9">DENY rule #{deny.id} (tenant) on dashboard.*: on leave</dd>' in why
    overrode = why[why.index("Overrode</dt>"):why.index("How it was decided")]
    assert f"<li>ALLOW rule #{allow.id} (tenant) on dashboard.view: covering</li>" in overrode
    assert "<li>The role member includes dashboard.view by default.</li>" in overrode
    assert "Denied by" not in why and why.count(">Denied</span>") == 1  # the verdict once, not "Denied Denied by"


def test_the_matrix_says_the_verdict_once_per_action(client, team, add_rule):
    admin, member, tenant = team
    deny = add_rule(admin, tenant, member, effect="deny", target="dashboard.*", reason="on leave")
    body = client.get(f"/t/{tenant.slug}/permissions?user={member.id}").get_data(as_text=True)
    row = body[body.index('id="cell-dashboard-view"'):]
    row = row[:row.index("</tr>")]
    assert f"DENY rule #{deny.id} (tenant) on dashboard.*: on leave" in row and "Denied by" not in row


def test_the_why_panel_takes_the_focus_after_an_answer(client, team):
    admin, member, tenant = team
    body = client.get(f"/t/{tenant.slug}/permissions?user={member.id}").get_data(as_text=True)
    assert '<h2 class="h5 card-title perm-why-title" id="why-title" tabindex="-1">' in body
    assert 'id="perm-why" class="mb-3" aria-live="polite" data-focus-after-swap="why-title"' in body
    assert body.count('hx-target="#perm-why" data-focus-after-swap="why-title"') >= 2  # matrix links and check
