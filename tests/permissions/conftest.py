"""Fixtures shared by the permission tests (rules themselves: `add_rule` in tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.users.models import Role


@pytest.fixture
def team(client, auth, member_of, create_user):
    """An admin signed in, with a member beside them in the same tenant. (test_services and test_cli have their
    own `team`: an owner and a member, nobody signed in.)"""
    admin, tenant = member_of(Role.ADMIN, email="admin@example.com")
    member = create_user("member@example.com", tenant=tenant, role=Role.MEMBER)
    auth.login(admin)
    return admin, member, tenant


@pytest.fixture
def operator(create_user):
    """A platform operator (for global rules) who is a member of nothing."""
    user = create_user("operator@example.com")
    user.is_operator = True
    db.session.commit()
    return user
