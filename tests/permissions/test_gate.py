"""The gate's switches and the operator's view of tenants."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.permissions.resolver import cache
from app.users.models import Role


@pytest.mark.config(FEATURE_MODULE_DENY_403=False)
def test_denied_module_is_hidden_with_a_redirect(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    response = client.get(f"/t/{tenant.slug}/settings")
    assert response.status_code == 302 and response.headers["Location"] == f"/t/{tenant.slug}/"
    assert "No role default or rule grants settings.manage" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


def test_denial_is_a_403_with_the_reason_by_default(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    response = client.get(f"/t/{tenant.slug}/settings")
    assert response.status_code == 403
    assert "No role default or rule grants settings.manage" in response.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "permission.denied")) is None


@pytest.mark.config(FEATURE_LOG_MODULE_DENIALS=True)
def test_denials_are_audited_when_asked(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    client.get(f"/t/{tenant.slug}/settings")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "permission.denied"))
    assert event.tenant_id == tenant.id and event.target_id == "settings.manage" and event.outcome == "failure"


def test_navigation_shows_only_what_may_be_opened(client, auth, member_of, create_tenant):
    member, tenant = member_of(Role.MEMBER)
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/settings"' not in body


def test_sign_in_warms_the_policy_cache(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    auth.login(user)
    hits = cache().hits
    client.get(f"/t/{tenant.slug}/")
    assert cache().hits > hits


def test_operator_may_look_into_any_tenant_but_not_change_it(client, auth, create_user, create_tenant):
    operator = create_user("ops@example.com")
    operator.is_operator = True
    db.session.commit()
    tenant = create_tenant(name="Customer Org")
    auth.login(operator)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Customer Org" in body and "platform operator" in body
    assert client.get(f"/t/{tenant.slug}/settings").status_code == 403
    assert client.get("/t/no-such-tenant/").status_code == 404
