"""The database bumps a user's policy version itself (migration 0004) whenever something a cached policy was
compiled from changes outside the rules: status, lock, identity, operator flag, memberships, the tenant. Checked
with plain SQL, on SQLite and PostgreSQL, so no application code can be what bumped it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.resolver import policy_version
from app.users.models import Role


@pytest.fixture
def pair(create_tenant, create_user, member_of):
    """A member and the tenant, plus a bystander in another tenant."""
    user, tenant = member_of(Role.MEMBER)
    other_user, _other_tenant = member_of(Role.MEMBER, tenant=create_tenant("other"))
    db.session.commit()
    return user, tenant, other_user


def _run(sql: str, **params) -> None:
    db.session.execute(text(sql), {"now": utcnow(), **params})
    db.session.commit()


@pytest.mark.parametrize("sql", [
    "UPDATE profile SET status = 'blocked' WHERE user_id = :user",
    "UPDATE profile SET locked_until = :now WHERE user_id = :user",
    "UPDATE user_account SET email = 'new@example.com' WHERE id = :user",
    "UPDATE user_account SET name = 'New' WHERE id = :user",
    "UPDATE user_account SET is_operator = true WHERE id = :user",
    "UPDATE user_account SET deleted_at = :now WHERE id = :user",
    "UPDATE membership SET role = 'admin' WHERE user_id = :user",
    "UPDATE membership SET deleted_at = :now WHERE user_id = :user",
    "DELETE FROM membership WHERE user_id = :user",
    "UPDATE tenant SET name = 'Renamed' WHERE id = :tenant",
    "UPDATE tenant SET slug = 'renamed' WHERE id = :tenant",
    "UPDATE tenant SET default_locale = 'pt_BR' WHERE id = :tenant",
    "UPDATE tenant SET timezone = 'America/Sao_Paulo' WHERE id = :tenant",
    "UPDATE tenant SET deleted_at = :now WHERE id = :tenant",
])
def test_each_change_bumps_the_users_version_and_no_one_elses(pair, sql):
    user, tenant, bystander = pair
    before, other_before = policy_version(user.id), policy_version(bystander.id)
    _run(sql, user=user.id, tenant=tenant.id)
    assert policy_version(user.id) > before
    assert policy_version(bystander.id) == other_before


@pytest.mark.parametrize("sql", [
    "UPDATE profile SET failed_login_count = 3 WHERE user_id = :user",
    "UPDATE profile SET last_login_at = :now WHERE user_id = :user",
    "UPDATE user_account SET password_hash = 'x' WHERE id = :user",
    "UPDATE tenant SET updated_at = :now WHERE id = :tenant",
])
def test_changes_a_policy_does_not_depend_on_leave_it_alone(pair, sql):
    user, tenant, _bystander = pair
    before = policy_version(user.id)
    _run(sql, user=user.id, tenant=tenant.id)
    assert policy_version(user.id) == before  # a sign-in does not throw away every cached policy


def test_a_new_membership_bumps(pair, create_tenant):
    user, _tenant, _bystander = pair
    third = create_tenant("third")
    db.session.commit()
    before = policy_version(user.id)
    _run("INSERT INTO membership (tenant_id, user_id, role, created_at, updated_at) "
         "VALUES (:tenant, :user, 'member', :now, :now)", user=user.id, tenant=third.id)
    assert policy_version(user.id) == before + 1


def test_a_tenant_change_bumps_the_operators_too(pair, create_user):
    _user, tenant, _bystander = pair
    operator = create_user("op@example.com")
    _run("UPDATE user_account SET is_operator = true WHERE id = :user", user=operator.id)
    before = policy_version(operator.id)
    _run("UPDATE tenant SET name = 'Renamed' WHERE id = :tenant", tenant=tenant.id)
    assert policy_version(operator.id) == before + 1  # operators may hold tokens where they are not members


def test_deleting_a_user_cascades_without_recreating_its_version_row(pair):
    user_id, bystander_id = pair[0].id, pair[2].id
    _run("UPDATE profile SET status = 'blocked' WHERE user_id = :user", user=user_id)  # the row exists
    _run("DELETE FROM user_account WHERE id = :user", user=user_id)  # profile and membership cascade
    assert db.session.execute(text("SELECT count(*) FROM policy_version WHERE user_id = :u"),
                              {"u": user_id}).scalar() == 0
    assert policy_version(bystander_id) >= 1
