"""Races through the real join pages on PostgreSQL: twenty browsers holding one code, released together, give
exactly one membership (and, for new people, exactly one account: the losers' accounts roll back with them)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteStatus
from app.users.models import Membership, Role, User
from tests.conftest import PASSWORD, Client
from tests.invites.helpers import actor

pytestmark = pytest.mark.postgres

RACERS = 20
LIMITS = {"JOIN_RATE_LIMIT": "1000 per minute", "LOGIN_RATE_LIMIT": "1000 per minute",
          "LOGIN_EMAIL_RATE_LIMIT": "1000 per minute"}


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):
    monkeypatch.setattr("app.users.models.PASSWORD_METHOD", "pbkdf2:sha256:1")


def _released_together(posts) -> list[int]:
    """Run each `post()` in its own thread, released together; their statuses."""
    barrier = threading.Barrier(len(posts), timeout=60)
    statuses: list[int] = [0] * len(posts)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            statuses[n] = posts[n]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return statuses


def _issued(member_of):
    admin, tenant = member_of(Role.ADMIN)
    invite, code = services.issue(actor(admin), tenant, role=Role.MEMBER, now=utcnow())
    db.session.commit()
    return tenant.id, invite.id, code


def _outcome(tenant_id: int, invite_id: int) -> tuple[int, tuple]:
    db.session.expire_all()
    members = db.session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id)
                                .execution_options(all_tenants=True))
    row = db.session.scalar(select(Invite).where(Invite.id == invite_id).execution_options(all_tenants=True))
    return members, (row.uses, row.status)


def _poster(client: Client, url: str, data: dict):
    return lambda: client.post(url, data).status_code


@pytest.mark.config(**LIMITS)
def test_twenty_new_people_signing_up_with_one_code_at_once_give_one_account(app, member_of):
    tenant_id, invite_id, code = _issued(member_of)
    posts = []
    for n in range(RACERS):
        client = Client(app.test_client())
        client.get(f"/join/{code}")
        assert client.get("/join/continue").status_code == 200  # the form, its CSRF token
        posts.append(_poster(client, "/join/signup", {
            "name": f"Racer {n}", "email": f"racer{n}@example.com", "password": PASSWORD, "confirm": PASSWORD,
            "form_nonce": client.nonce()}))
    statuses = _released_together(posts)
    assert sorted(statuses) == [303] + [404] * (RACERS - 1)
    assert _outcome(tenant_id, invite_id) == (2, (1, InviteStatus.ACCEPTED))  # the admin and the winner
    racers = db.session.scalar(select(func.count()).select_from(User).where(User.email.like("racer%")))
    assert racers == 1  # the losers' accounts rolled back with their refused joins


@pytest.mark.config(**LIMITS)
def test_twenty_signed_in_people_joining_with_one_code_at_once_give_one_membership(app, member_of, create_user):
    tenant_id, invite_id, code = _issued(member_of)
    posts = []
    for n in range(RACERS):
        client = Client(app.test_client())
        user = create_user(f"member{n}@example.com")
        response = client.post("/auth/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        client.csrf = None
        client.get(f"/join/{code}")
        assert client.get("/join/continue").status_code == 200
        posts.append(_poster(client, "/join/accept", {"form_nonce": client.nonce()}))
    statuses = _released_together(posts)
    assert sorted(statuses) == [303] + [404] * (RACERS - 1)
    assert _outcome(tenant_id, invite_id) == (2, (1, InviteStatus.ACCEPTED))
