"""Permission pages: the effective matrix, adding and removing rules with htmx, "why?" and "check as"."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.models import PermissionRule
from app.users.models import Role

TARGETS = {"HX-Target": "div#perm-rules-list"}


def _rules(**where):
    query = select(PermissionRule).execution_options(all_tenants=True, include_deleted=True)
    return db.session.scalars(query.filter_by(**where)).all()


def _events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def _form(member, **changes):
    data = {"user_id": str(member.id), "effect": "deny", "target": "settings.*", "reason": "audit freeze"}
    data.update(changes)
    return data


# ---------------------------------------------------------------- the page


def test_admin_sees_a_members_matrix_with_reasons(client, team):
    admin, member, tenant = team
    response = client.get(f"/t/{tenant.slug}/permissions?user={member.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Effective permissions of member@example.com" in body
    assert "Allowed" in body and "Denied" in body
    assert "The role member includes dashboard.view by default." in body
    assert "No role default or rule grants settings.manage." in body
    assert f'href="/t/{tenant.slug}/permissions/why?user={member.id}&amp;action=settings.manage#why-title"' in body
    assert 'id="rule-form"' in body and 'id="check-form"' in body and 'aria-live="polite"' in body
    assert 'name="scope"' not in body  # global rules are for operators


def test_nav_and_dashboard_card(client, team, member_of, auth, make_client, create_user, add_rule):
    admin, member, tenant = team
    add_rule(admin, tenant, member, expires_at=utcnow() + timedelta(days=2))
    add_rule(admin, tenant, member, effect="allow", target="permissions.view")
    expired = add_rule(admin, tenant, member, effect="allow", expires_at=utcnow() + timedelta(hours=1))
    expired.expires_at = utcnow() - timedelta(hours=1)  # not pruned yet: ignored, and not counted
    db.session.commit()
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/permissions"' in body and 'id="card-permissions"' in body
    for label, count in (("Allow rules", 1), ("Deny rules", 1), ("Expiring within 7 days", 1)):
        assert f'{label}</dt><dd class="col-4 mb-0">{count}</dd>' in body, label
    other = make_client()
    auth.login(create_user(tenant=tenant, role=Role.MEMBER), client=other)
    body = other.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/permissions"' not in body and 'id="card-permissions"' not in body


def test_manager_may_look_but_not_change(client, auth, member_of, create_user, add_rule):
    manager, tenant = member_of(Role.MANAGER)
    member = create_user(tenant=tenant)
    rule = add_rule(manager, tenant, member)
    auth.login(manager)
    body = client.get(f"/t/{tenant.slug}/permissions?user={member.id}").get_data(as_text=True)
    assert 'id="rule-form"' not in body and "Remove" not in body and f'id="rule-{rule.id}"' in body
    assert client.post(f"/t/{tenant.slug}/permissions/rules", _form(member), htmx=True).status_code == 403
    assert client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/delete", htmx=True).status_code == 403
    assert len(_rules(deleted_at=None)) == 1


@pytest.mark.parametrize("query", ["user=abc", "user=99999999999", "rules_page=-3", "rules_page=99999999999999",
                                   "members_page=x", "rules_effect=maybe", "rules_module=nope", "rules_user=x"])
def test_odd_query_strings_never_fail(client, team, query):
    assert client.get(f"/t/{team[2].slug}/permissions?{query}").status_code == 200


def test_another_tenants_member_is_not_found(client, team, member_of):
    stranger, _ = member_of(Role.OWNER)
    response = client.get(f"/t/{team[2].slug}/permissions?user={stranger.id}")
    assert response.status_code == 404 and stranger.email not in response.get_data(as_text=True)


# ---------------------------------------------------------------- adding rules


def test_create_with_htmx_returns_fragments_and_audits(client, team):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules?user={member.id}", _form(member), htmx=True)
    body = response.get_data(as_text=True)
    [rule] = _rules()
    assert response.status_code == 200 and "<html" not in body
    assert f"Rule #{rule.id} added: Deny settings.* for member@example.com." in body
    assert '<div id="perm-rules-list" hx-swap-oob="innerHTML">' in body and f'id="rule-{rule.id}"' in body
    assert '<div id="perm-matrix" hx-swap-oob="innerHTML">' in body and "audit freeze" in body
    assert rule.tenant_id == tenant.id and rule.user_id == member.id and rule.created_by_id == admin.id
    [event] = _events("permission.rule_created")
    assert event.actor_user_id == admin.id and event.tenant_id == tenant.id and event.target_id == str(rule.id)
    assert event.details["target"] == "settings.*" and event.details["reason"] == "audit freeze"
    # The rules filters on screen come along (hx-include) and still apply to the list sent back.
    filtered = client.post(f"/t/{tenant.slug}/permissions/rules", {**_form(member), "rules_effect": "allow"},
                           htmx=True).get_data(as_text=True)
    assert "added: Deny settings.*" in filtered and "0 rules" in filtered


def test_create_without_js_redirects_with_flash(client, team):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules", _form(member, effect="allow",
                                                                         target="permissions.view"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant.slug}/permissions?user={member.id}"
    assert "added: Allow permissions.view for member@example.com" in client.get(
        response.headers["Location"]).get_data(as_text=True)


def test_expiry_is_read_in_the_tenants_time_zone(client, team):
    admin, member, tenant = team  # America/Sao_Paulo, UTC-3 all year
    client.post(f"/t/{tenant.slug}/permissions/rules", _form(member, expires_at="2099-01-01T09:30"), htmx=True)
    [rule] = _rules()
    assert rule.expires_at.isoformat() == "2099-01-01T12:30:00+00:00"


def test_a_new_rule_applies_on_the_users_next_request(client, team, auth, make_client, create_user):
    admin, _, tenant = team
    colleague = create_user(tenant=tenant, role=Role.ADMIN)
    browser = make_client()
    auth.login(colleague, client=browser)
    assert browser.get(f"/t/{tenant.slug}/settings").status_code == 200
    client.post(f"/t/{tenant.slug}/permissions/rules", _form(colleague, reason="handover"), htmx=True)
    response = browser.get(f"/t/{tenant.slug}/settings")
    assert response.status_code == 403 and "handover" in response.get_data(as_text=True)


@pytest.mark.parametrize(("changes", "message"), [
    ({"target": "nope.*"}, "nope.* is not in the catalogue."),
    ({"target": ""}, "This field is required."),
    ({"effect": "maybe"}, "Choose allow or deny."),
    ({"resource": "not a resource"}, "Write the resource as type:id, e.g. user:42."),
    ({"resource": "widget:1"}, "Unknown resource type widget."),
    ({"expires_at": "2001-01-01T10:00"}, "The expiry must be in the future."),
    ({"expires_at": "tomorrow"}, "Not a valid datetime value."),
    ({"reason": ""}, "This field is required."),
    ({"reason": "r" * 501}, "Field cannot be longer than 500 characters."),
    ({"user_id": "abc"}, "Choose a member of this tenant."),
    ({"user_id": "99999999999999"}, "Choose a member of this tenant."),
    ({"scope": "planet"}, "Choose tenant or global scope."),
])
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_rules_are_refused_with_the_reason(client, team, changes, message, htmx):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules", _form(member, **changes), htmx=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body
    assert 'aria-invalid="true"' in body or 'class="alert alert-danger" role="alert"' in body
    assert ("<html" in body) is not htmx
    assert _rules() == [] and _events("permission.rule_created") == []


def test_a_member_of_another_tenant_cannot_be_given_a_rule(client, team, member_of):
    stranger, _ = member_of(Role.MEMBER)
    response = client.post(f"/t/{team[2].slug}/permissions/rules", _form(stranger), htmx=True)
    # the form shows the refusal, with the service's status (as the API answers: not a member here is 404)
    assert response.status_code == 404 and "Choose a member of this tenant." in response.get_data(as_text=True)
    assert _rules() == []


def test_only_operators_add_global_rules(client, team, auth, make_client, create_user):
    admin, member, tenant = team
    response = client.post(f"/t/{tenant.slug}/permissions/rules", _form(member, scope="global"), htmx=True)
    assert response.status_code == 403 and "Only platform operators" in response.get_data(as_text=True)
    assert _rules() == []
    operator = create_user("ops@example.com", tenant=tenant, role=Role.ADMIN)
    operator.is_operator = True
    db.session.commit()
    browser = make_client()
    auth.login(operator, client=browser)
    body = browser.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)
    assert 'name="scope"' in body
    response = browser.post(f"/t/{tenant.slug}/permissions/rules", _form(member, scope="global"), htmx=True)
    assert response.status_code == 200 and _rules()[0].tenant_id is None


# ---------------------------------------------------------------- removing rules


def test_delete_with_htmx_returns_the_list_and_audits(client, team, add_rule):
    admin, member, tenant = team
    kept, gone = add_rule(admin, tenant, member, reason="keep me"), add_rule(admin, tenant, member, reason="drop me")
    url = f"/t/{tenant.slug}/permissions/rules/{gone.id}/delete?user={member.id}&rules_q=me"
    response = client.post(url, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f"Rule #{gone.id} removed." in body and f'id="rule-{kept.id}"' in body and f'id="rule-{gone.id}"' not in body
    assert "rules_q=me" in body  # the filters on screen are kept
    assert '<div id="perm-matrix" hx-swap-oob="innerHTML">' in body
    assert 'hx-confirm="Remove rule' in client.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)
    db.session.expire_all()
    assert _rules(id=gone.id)[0].deleted_at is not None and _rules(id=kept.id)[0].deleted_at is None
    [event] = _events("permission.rule_deleted")
    assert event.actor_user_id == admin.id and event.target_id == str(gone.id)


def test_delete_without_js_redirects_with_flash(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member)
    response = client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/delete?rules_effect=deny")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant.slug}/permissions?rules_effect=deny"
    assert f"Rule #{rule.id} removed." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_another_tenants_rule_is_not_found(client, team, member_of, add_rule):
    owner, elsewhere = member_of(Role.OWNER)
    foreign = add_rule(owner, elsewhere, owner)
    assert client.post(f"/t/{team[2].slug}/permissions/rules/{foreign.id}/delete", htmx=True).status_code == 404
    assert client.post(f"/t/{team[2].slug}/permissions/rules/99999999999/delete").status_code == 404
    assert _rules(id=foreign.id)[0].deleted_at is None and _events("permission.rule_deleted") == []
