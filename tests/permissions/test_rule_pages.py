"""One rule's pages: changing its reason and expiry, removing it after a confirmation (without JavaScript too),
and a form sent twice acting once."""

from datetime import timedelta

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.models import PermissionRule
from app.permissions.resolver import policy_version
from app.users.models import Role

ALREADY_SENT = "This form was already sent and acted on"


def _rule(rule_id):
    db.session.expire_all()
    return db.session.scalar(select(PermissionRule).where(PermissionRule.id == rule_id)
                             .execution_options(all_tenants=True, include_deleted=True))


def _events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def _rules_of(user):
    db.session.expire_all()
    return db.session.scalars(select(PermissionRule).where(PermissionRule.user_id == user.id)
                              .execution_options(all_tenants=True)).all()


# ---------------------------------------------------------------- a form sent twice acts once


def test_a_double_click_on_add_rule_adds_one_rule(client, team):
    admin, member, tenant = team
    data = {"user_id": str(member.id), "effect": "deny", "target": "settings.*", "reason": "once",
            "form_nonce": client.nonce()}
    first = client.post(f"/t/{tenant.slug}/permissions/rules", data, htmx=True)
    second = client.post(f"/t/{tenant.slug}/permissions/rules", data, htmx=True)
    assert first.status_code == 200 and second.status_code == 409
    assert ALREADY_SENT in second.get_data(as_text=True)
    assert len(_rules_of(member)) == 1 and len(_events("permission.rule_created")) == 1


def test_removing_twice_with_the_same_form_acts_once(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member)
    nonce = client.nonce()
    url = f"/t/{tenant.slug}/permissions/rules/{rule.id}/delete"
    assert client.post(url, {"form_nonce": nonce}).status_code == 302
    again = client.post(url, {"form_nonce": nonce}, htmx=True)
    body = again.get_data(as_text=True)
    assert again.status_code == 409 and ALREADY_SENT in body and 'role="alert"' in body
    assert len(_events("permission.rule_deleted")) == 1


def test_a_removal_without_its_form_nonce_does_nothing(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member)
    response = client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/delete", nonce=False)
    assert response.status_code == 400 and _rule(rule.id).deleted_at is None


# ---------------------------------------------------------------- removing, confirmed without JavaScript


def test_remove_is_a_link_to_a_confirmation_page_that_htmx_posts_after_a_dialog(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, reason="audit freeze")
    listing = client.get(f"/t/{tenant.slug}/permissions?rules_effect=deny").get_data(as_text=True)
    url = f"/t/{tenant.slug}/permissions/rules/{rule.id}/delete?rules_effect=deny&amp;rules_page=1"
    link = listing[listing.index(f'id="remove-rule-{rule.id}"'):]
    link = link[:link.index("</a>")]
    assert f'href="{url}"' in link and f'hx-post="{url}"' in link and 'hx-confirm="Remove rule' in link
    assert '"form_nonce":' in link  # htmx sends a one-time nonce, as the confirmation page's form does

    page = client.get(url.replace("&amp;", "&"))
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f"Remove rule #{rule.id}?" in body and "Are you sure?" in body
    assert "audit freeze" in body and 'method="post"' in body and 'name="form_nonce"' in body
    assert f'href="/t/{tenant.slug}/permissions?rules_effect=deny&amp;rules_page=1#rule-{rule.id}"' in body  # cancel
    assert _rule(rule.id).deleted_at is None  # looking asks, it does not remove

    done = client.post(url.replace("&amp;", "&"))
    assert done.status_code == 302
    assert done.headers["Location"] == f"/t/{tenant.slug}/permissions?rules_effect=deny&rules_page=1"
    assert f"Rule #{rule.id} removed." in client.get(done.headers["Location"]).get_data(as_text=True)
    assert _rule(rule.id).deleted_at is not None


def test_the_confirmation_page_of_a_foreign_or_missing_rule_is_not_found(client, team, member_of, add_rule):
    owner, elsewhere = member_of(Role.OWNER)
    foreign = add_rule(owner, elsewhere, owner)
    for rule_id in (foreign.id, 99999999999):
        assert client.get(f"/t/{team[2].slug}/permissions/rules/{rule_id}/delete").status_code == 404
        assert client.get(f"/t/{team[2].slug}/permissions/rules/{rule_id}/edit").status_code == 404


# ---------------------------------------------------------------- changing a rule


def test_a_rule_is_changed_on_its_page_and_the_change_audited(client, team, add_rule):
    admin, member, tenant = team  # America/Sao_Paulo, UTC-3
    rule = add_rule(admin, tenant, member, reason="audit freeze", expires_at=utcnow() + timedelta(days=3))
    listing = client.get(f"/t/{tenant.slug}/permissions?user={member.id}").get_data(as_text=True)
    edit_url = f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit?user={member.id}&amp;rules_page=1"
    assert f'href="{edit_url}"' in listing  # the page's state rides along, to come back to it
    page = client.get(edit_url.replace("&amp;", "&")).get_data(as_text=True)
    assert f"Change rule #{rule.id}" in page and "audit freeze</textarea>" in page and 'name="form_nonce"' in page
    version = policy_version(member.id)

    response = client.post(edit_url.replace("&amp;", "&"), {"reason": "freeze until the audit ends",
                                                            "expires_at": "2099-01-01T09:30"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant.slug}/permissions?user={member.id}&rules_page=1#rule-{rule.id}"
    assert f"Rule #{rule.id} changed." in client.get(response.headers["Location"]).get_data(as_text=True)
    stored = _rule(rule.id)
    assert stored.reason == "freeze until the audit ends"
    assert stored.expires_at.isoformat() == "2099-01-01T12:30:00+00:00"
    assert policy_version(member.id) > version  # decisions (and their explanations) use the new values at once
    [event] = _events("permission.rule_updated")
    assert event.actor_user_id == admin.id and event.target_id == str(rule.id)
    assert event.details["changes"]["reason"] == ["audit freeze", "freeze until the audit ends"]
    assert event.details["changes"]["expires_at"][1] == "2099-01-01T12:30:00+00:00"
    why = client.get(f"/t/{tenant.slug}/permissions/why?user={member.id}&action=settings.manage",
                     headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "freeze until the audit ends" in why


def test_changing_a_rule_says_every_refused_field_at_once(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, reason="audit freeze")
    response = client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit",
                           {"reason": "", "expires_at": "2001-01-01T10:00"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The expiry must be in the future." in body and "This field is required." in body
    assert 'href="#expires_at"' in body and 'href="#reason"' in body  # the summary links to each field
    assert _rule(rule.id).reason == "audit freeze" and _events("permission.rule_updated") == []


def test_a_past_expiry_sent_back_unchanged_is_kept(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, reason="old", expires_at=utcnow() + timedelta(hours=1))
    rule.expires_at = rule.expires_at - timedelta(days=2)  # it has expired since (not pruned yet)
    db.session.commit()
    expired = _rule(rule.id).expires_at
    page = client.get(f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit").get_data(as_text=True)
    shown = page.split('id="expires_at"')[1].split('value="')[1].split('"')[0]
    response = client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit",
                           {"reason": "reworded", "expires_at": shown})
    assert response.status_code == 302
    assert (_rule(rule.id).reason, _rule(rule.id).expires_at) == ("reworded", expired)


def test_sending_a_rule_back_unchanged_changes_nothing(client, team, add_rule):
    admin, member, tenant = team
    rule = add_rule(admin, tenant, member, reason="same")
    response = client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit", {"reason": "same"})
    assert response.status_code == 302
    assert "Nothing changed." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _events("permission.rule_updated") == []


def test_a_manager_may_neither_change_nor_remove(client, auth, member_of, create_user, add_rule):
    manager, tenant = member_of(Role.MANAGER)
    rule = add_rule(manager, tenant, create_user(tenant=tenant), reason="kept")
    auth.login(manager)
    body = client.get(f"/t/{tenant.slug}/permissions").get_data(as_text=True)
    assert f"rules/{rule.id}/edit" not in body and f"rules/{rule.id}/delete" not in body
    for action in ("edit", "delete"):
        assert client.get(f"/t/{tenant.slug}/permissions/rules/{rule.id}/{action}").status_code == 403
    assert client.post(f"/t/{tenant.slug}/permissions/rules/{rule.id}/edit", {"reason": "x"}).status_code == 403
    assert _rule(rule.id).reason == "kept"
