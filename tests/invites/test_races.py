"""Races on PostgreSQL, real threads each with its own session and transaction, released together: one personal
code accepted 20 times at once gives one membership; 20 parallel issuances with a limit of 5 give 5; a link of 3
seats and 10 joiners gives 3; one person accepting ten invites of one tenant at once joins once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.errors import DomainError
from app.extensions import db
from app.invites import services
from app.invites.models import Invite, InviteQuota, InviteStatus, InviteUse
from app.invites.services import AlreadyMember, DailyLimitReached, InviteInvalid
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User
from tests.invites.helpers import NOW, actor
from tests.twofactor.helpers import race

pytestmark = pytest.mark.postgres


def _outcome(fn):
    try:
        return fn()
    except DomainError as exc:
        db.session.rollback()
        return exc


def _members(tenant_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id)
                             .execution_options(all_tenants=True))


def _joiners(create_user, count: int) -> list[int]:
    return [create_user(f"joiner{n}@example.com").id for n in range(count)]


def test_twenty_parallel_acceptances_of_one_code_give_one_membership(app, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    invite, code = services.issue(actor(admin), tenant, role=Role.MEMBER, now=NOW)
    db.session.commit()
    invite_id, tenant_id = invite.id, tenant.id
    ids = _joiners(create_user, 20)

    results = race(app, 20, lambda n: db.session.get(User, ids[n]),
                   lambda user: _outcome(lambda: services.accept(code, user, NOW)))
    assert sum(isinstance(r, Membership) for r in results) == 1
    assert all(isinstance(r, InviteInvalid) for r in results if not isinstance(r, Membership))
    db.session.expire_all()
    assert _members(tenant_id) == 2  # the admin and the one who won
    row = db.session.get(Invite, invite_id)
    assert (row.uses, row.status) == (1, InviteStatus.ACCEPTED)


def test_twenty_parallel_issuances_with_a_limit_of_five_give_five(app, member_of):
    admin, tenant = member_of(Role.ADMIN)
    admin_id, tenant_id = admin.id, tenant.id

    def prepare(_n):
        return db.session.get(User, admin_id), db.session.get(Tenant, tenant_id)

    def act(state):
        user, tenant = state
        return _outcome(lambda: services.issue(actor(user), tenant, role=Role.MEMBER, now=NOW))

    results = race(app, 20, prepare, act)
    assert sum(isinstance(r, tuple) for r in results) == 5
    assert sum(isinstance(r, DailyLimitReached) for r in results) == 15
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Invite)
                             .execution_options(all_tenants=True)) == 5
    assert db.session.scalar(select(InviteQuota.count).execution_options(all_tenants=True)) == 5


def test_a_link_of_three_seats_and_ten_parallel_joiners_gives_three(app, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    invite, code = services.issue(actor(admin), tenant, role=Role.MEMBER, kind="link", max_uses=3, now=NOW)
    db.session.commit()
    invite_id, tenant_id = invite.id, tenant.id
    ids = _joiners(create_user, 10)

    results = race(app, 10, lambda n: db.session.get(User, ids[n]),
                   lambda user: _outcome(lambda: services.accept(code, user, NOW)))
    assert sum(isinstance(r, Membership) for r in results) == 3
    assert sum(isinstance(r, InviteInvalid) for r in results) == 7
    db.session.expire_all()
    assert _members(tenant_id) == 4
    row = db.session.get(Invite, invite_id)
    assert (row.uses, row.status) == (3, InviteStatus.ACCEPTED)
    assert db.session.scalar(select(func.count()).select_from(InviteUse)
                             .execution_options(all_tenants=True)) == 3


def test_one_person_accepting_ten_invites_of_one_tenant_at_once_joins_once(app, member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    issued = [services.issue(actor(admin), tenant, role=Role.MEMBER, now=NOW) for _ in range(5)]
    tenant.invite_daily_limit = 10
    issued += [services.issue(actor(admin), tenant, role=Role.MEMBER, now=NOW) for _ in range(5)]
    db.session.commit()
    codes, tenant_id = [code for _invite, code in issued], tenant.id
    joiner_id = create_user("twice@example.com").id

    results = race(app, 10, lambda n: (db.session.get(User, joiner_id), codes[n]),
                   lambda state: _outcome(lambda: services.accept(state[1], state[0], NOW)))
    assert sum(isinstance(r, Membership) for r in results) == 1
    assert all(isinstance(r, AlreadyMember) for r in results if not isinstance(r, Membership))
    db.session.expire_all()
    assert _members(tenant_id) == 2
    assert db.session.scalar(select(func.count()).select_from(Invite).where(Invite.uses == 1)
                             .execution_options(all_tenants=True)) == 1  # the refused ones keep their seat
