"""The second factor's JSON routes: the token owner's own state (never a secret) and an admin's reset of a member's
second factor, with the refusals of scope, permission, the ceiling and tenancy as problem+json."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.extensions import db
from app.mail.models import EmailMessage
from app.tenants.models import Tenant
from app.tokens import services as tokens
from app.tokens import usage
from app.twofactor.models import TotpDevice
from app.users.models import Profile, Role
from tests.tokens.helpers import problem_of
from tests.twofactor.helpers import enrolled

ME = "/api/v1/me/2fa"


@pytest.fixture(autouse=True)
def _write_usage_before_the_tables_are_emptied(app):
    yield
    usage.flush()


def _token(tenant, user, scope: str) -> str:
    secret = tokens.create_token(None, tenant, user, name=f"{scope} token", scope=scope).secret
    db.session.commit()
    return secret


def _reset(user) -> str:
    return f"/api/v1/users/{user.id}/2fa/reset"


def _on(user) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(Profile.twofa_enabled_at).where(Profile.user_id == user.id)) is not None


def test_me_shows_ones_own_second_factor_without_secrets(api, member_of, create_tenant):
    user, tenant = member_of(Role.MEMBER, tenant=create_tenant(name="Acme Requiring"))
    db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(twofa_required_roles="member"))
    db.session.commit()
    secret_of_app, _ = enrolled(user, "Pixel 8")
    response = api("GET", ME, _token(tenant, user, "read"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["enabled"] is True and body["enabled_at"] and body["recovery_codes_left"] == 10
    assert [d["name"] for d in body["devices"]] == ["Pixel 8"] and set(body["devices"][0]) == {
        "id", "name", "created_at", "last_used_at"}
    assert body["required_by"] == ["Acme Requiring"] and body["locked_until"] is None and body["app_codes_off"] is False
    sealed = db.session.scalar(select(TotpDevice.secret).where(TotpDevice.user_id == user.id))
    text = response.get_data(as_text=True)
    assert secret_of_app not in text and sealed not in text


def test_me_without_a_second_factor_and_without_a_token(api, member_of):
    user, tenant = member_of(Role.MEMBER)
    body = api("GET", ME, _token(tenant, user, "read")).get_json()
    assert body == {"enabled": False, "enabled_at": None, "devices": [], "recovery_codes_left": 0, "required_by": [],
                    "locked_until": None, "app_codes_off": False}
    problem_of(api("GET", ME), 401, "invalid_token")


@pytest.fixture
def crew(member_of, create_user):
    owner, tenant = member_of(Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    manager = create_user(tenant=tenant, role=Role.MANAGER)
    member = create_user(tenant=tenant, role=Role.MEMBER)
    for person in (owner, admin, member):
        enrolled(person)
    return tenant, owner, admin, manager, member


def test_an_admin_token_resets_a_member(api, crew):
    tenant, _owner, admin, _manager, member = crew
    secret = _token(tenant, admin, "admin")
    response = api("POST", _reset(member), secret)
    assert response.status_code == 204 and not _on(member)
    assert db.session.scalar(select(TotpDevice.id).where(TotpDevice.user_id == member.id)) is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "member.twofa_reset"))
    assert (event.actor_user_id, event.target_id, event.tenant_id) == (admin.id, str(member.id), tenant.id)
    assert db.session.scalar(select(EmailMessage.recipient).where(EmailMessage.kind == "twofa_reset")) == member.email
    problem_of(api("POST", _reset(member), secret), 409, "conflict")  # nothing left to reset


def test_the_reset_refusals_are_problem_documents(api, crew, member_of):
    tenant, owner, admin, manager, member = crew
    problem_of(api("POST", _reset(member), _token(tenant, admin, "write")), 403, "insufficient_scope")
    problem_of(api("POST", _reset(member), _token(tenant, admin, "read")), 403, "insufficient_scope")
    problem_of(api("POST", _reset(owner), _token(tenant, admin, "admin")), 403, "outranked")
    problem_of(api("POST", _reset(admin), _token(tenant, admin, "admin")), 409, "conflict")  # oneself: not here
    stranger, _elsewhere = member_of(Role.MEMBER)
    enrolled(stranger)
    problem_of(api("POST", _reset(stranger), _token(tenant, admin, "admin")), 404, "not_found")
    problem_of(api("POST", _reset(member)), 401, "invalid_token")
    assert all(_on(person) for person in (owner, admin, member, stranger))


def test_a_token_without_users_manage_cannot_reset(api, crew, add_rule):
    tenant, owner, admin, _manager, member = crew
    add_rule(owner, tenant, admin, effect="deny", target="users.manage")
    refused = api("POST", _reset(member), _token(tenant, admin, "admin"))
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert _on(member)
