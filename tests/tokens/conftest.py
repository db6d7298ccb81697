"""Token fixtures: issue(...) makes a committed token (api(...), which calls the JSON API with a secret, is in
tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.tenants.models import Tenant
from app.tokens import services, usage
from app.users.models import Role, User
from tests.tokens.helpers import Issued


@pytest.fixture(autouse=True)
def _write_usage_before_the_tables_are_emptied(app):
    """Usage rows are buffered per app; write them while their tokens exist, so none is left for a later test."""
    yield
    usage.flush()


@pytest.fixture
def issue(member_of):
    """issue(role=ADMIN, scope="admin", *, tenant=None, user=None, name="t", **create_token kwargs) -> Issued."""

    def _issue(role: Role = Role.ADMIN, scope: str = "admin", *, tenant: Tenant | None = None,
               user: User | None = None, name: str = "t", **kwargs) -> Issued:
        if user is None:
            user, tenant = member_of(role, tenant=tenant)
        issued = services.create_token(None, tenant, user, name=name, scope=scope, **kwargs)
        db.session.commit()
        return Issued(issued.secret, issued.token, user, tenant)

    return _issue


@pytest.fixture
def team(member_of, create_user):
    """An admin and a member of one tenant; nobody signed in yet (some modules have their own, in another time
    zone or with other roles)."""
    admin, tenant = member_of(Role.ADMIN, email="admin@example.com")
    return admin, create_user("member@example.com", tenant=tenant, role=Role.MEMBER), tenant
