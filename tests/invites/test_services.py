"""The invites domain: codes (format, checksum, digest only), issuing (fields, TTL, role ceiling, the daily limit
on the tenant's day), validating (never changes anything), accepting (one neutral refusal, email and domain
bindings, restore), links and approval, revoke, resend, renew, expire_due, the list, the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app.core import tokencodec
from app.core.crypto import crypto
from app.core.errors import Conflict, ValidationFailed
from app.extensions import db
from app.invites import codes, services
from app.invites.models import Invite, InviteKind, InviteStatus, InviteUse, check_email_domain
from app.invites.services import (
    AlreadyJoined,
    AlreadyMember,
    DailyLimitReached,
    InviteDomainRefused,
    InviteForAnotherEmail,
    InviteInvalid,
)
from app.permissions.ceiling import BeyondRightsError
from app.users.models import Membership, Role
from tests.invites.helpers import NOW, actor, events


@pytest.fixture
def admin(member_of):
    return member_of(Role.ADMIN)


def _issue(user, tenant, now=NOW, **kwargs):
    kwargs.setdefault("role", Role.MEMBER)
    invite, code = services.issue(actor(user), tenant, now=now, **kwargs)
    db.session.commit()
    return invite, code


def _membership(tenant, user):
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                                      Membership.user_id == user.id)
                             .execution_options(all_tenants=True, include_deleted=True))


@pytest.fixture
def queries(app):
    """The statements run while the block runs (a list that fills)."""
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    yield seen
    event.remove(db.engine, "before_cursor_execute", listen)


# ---------------------------------------------------------------- codes


def test_a_code_has_the_token_format_with_the_invite_kind_and_a_checksum(app):
    code, digest, hint = codes.new_code()
    assert code.startswith("hbx_i_") and len(code) == 6 + 30 + 6
    assert tokencodec.KINDS["i"] == "invite"
    assert codes.well_formed(code)
    assert digest == crypto().digest(code) and len(digest) == 64
    assert hint.endswith(code[-4:]) and code not in hint
    # one character changed in the body: the checksum no longer matches
    body_char = code[10]
    typo = code[:10] + ("a" if body_char != "a" else "b") + code[11:]
    assert not codes.well_formed(typo)
    assert not codes.well_formed(code.replace("hbx_i_", "hbx_p_"))
    assert not codes.well_formed(None) and not codes.well_formed("")


def test_a_mistyped_code_is_refused_before_any_query(admin, create_user, queries):
    user, tenant = admin
    _, code = _issue(user, tenant)
    joiner = create_user()
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    queries.clear()
    assert services.validate(typo, NOW) is None
    with pytest.raises(InviteInvalid):
        services.accept(typo, joiner, NOW)
    assert queries == []


def test_only_the_digest_and_a_hint_are_stored(admin):
    user, tenant = admin
    invite, code = _issue(user, tenant, email="new@example.com")
    row = db.session.execute(select(Invite.__table__)).one()._mapping
    assert all(code not in str(value) for value in row.values())
    assert row["digest"] == crypto().digest(code)
    assert row["hint"] == tokencodec.hint(code)
    assert all(code not in str(e.details) for e in events("invite.created"))


# ---------------------------------------------------------------- issuing


def test_the_lifetime_defaults_to_the_tenant_s_and_is_bounded_by_its_longest(admin):
    user, tenant = admin
    tenant.invite_daily_limit = 10
    invite, _ = _issue(user, tenant)
    assert invite.expires_at == NOW + timedelta(hours=72) and invite.ttl_hours == 72
    invite, _ = _issue(user, tenant, ttl_hours=1)
    assert invite.expires_at == NOW + timedelta(hours=1)
    invite, _ = _issue(user, tenant, ttl_hours=200)  # longer than the default, within the longest (720)
    assert invite.ttl_hours == 200
    tenant.invite_max_ttl_hours = 100
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        services.issue(actor(user), tenant, role=Role.MEMBER, ttl_hours=101, now=NOW)
    assert refused.value.field == "ttl_hours" and "100" in str(refused.value)
    db.session.rollback()
    tenant.invite_max_ttl_hours = 720
    db.session.commit()
    invite, _ = _issue(user, tenant, ttl_hours=720)
    assert invite.expires_at == NOW + timedelta(days=30)
    for wrong in (0, 721, -1, True):
        with pytest.raises(ValidationFailed):
            services.issue(actor(user), tenant, role=Role.MEMBER, ttl_hours=wrong, now=NOW)
        db.session.rollback()


def test_every_field_is_refused_at_once(admin):
    user, tenant = admin
    with pytest.raises(ValidationFailed) as refused:
        services.issue(actor(user), tenant, role="chief", email="not an address", ttl_hours=0, now=NOW)
    assert {e["loc"][0] for e in refused.value.extra["errors"]} == {"role", "email", "ttl_hours"}
    with pytest.raises(ValidationFailed) as refused:
        services.issue(actor(user), tenant, role=Role.MEMBER, kind="link", max_uses=0, email_domain="no domain",
                       now=NOW)
    assert {e["loc"][0] for e in refused.value.extra["errors"]} == {"max_uses", "email_domain"}
    with pytest.raises(ValidationFailed) as refused:
        services.issue(actor(user), tenant, role=Role.MEMBER, max_uses=3, now=NOW)
    assert refused.value.field == "max_uses"


def test_the_email_and_the_domain_are_normalised(admin):
    user, tenant = admin
    invite, _ = _issue(user, tenant, email="  New.Person@Example.COM ")
    assert invite.email == "new.person@example.com"
    assert check_email_domain("@Example.com ") == "example.com"


def test_a_manager_cannot_invite_an_admin(member_of):
    manager, tenant = member_of(Role.MANAGER)
    with pytest.raises(BeyondRightsError) as refused:
        services.issue(actor(manager), tenant, role=Role.ADMIN, now=NOW)
    assert refused.value.field == "role"
    db.session.rollback()
    invite, _ = _issue(manager, tenant, role=Role.MANAGER)
    assert invite.role == Role.MANAGER
    assert db.session.scalar(select(Invite.id).where(Invite.role == Role.ADMIN)) is None


def test_the_daily_limit_counts_on_the_tenant_s_day(admin):
    user, tenant = admin  # America/Sao_Paulo, UTC-3 all year
    before_midnight = NOW.replace(hour=2, minute=59)  # 23:59 on Dec 4 in São Paulo
    for _ in range(5):
        _issue(user, tenant, now=before_midnight)
    assert services.remaining_today(tenant, user.id, before_midnight) == 0
    with pytest.raises(DailyLimitReached) as refused:
        services.issue(actor(user), tenant, role=Role.MEMBER, now=before_midnight)
    assert refused.value.status == 429 and "5" in str(refused.value)
    db.session.rollback()
    # 00:00 in São Paulo is 03:00 UTC, a new day there (and still Dec 5 in UTC, like 02:59 was)
    after_midnight = NOW.replace(hour=3, minute=0)
    assert services.remaining_today(tenant, user.id, after_midnight) == 5
    _issue(user, tenant, now=after_midnight)
    assert services.remaining_today(tenant, user.id, after_midnight) == 4
    # another issuer has their own count
    other, _ = admin[0], None
    assert services.remaining_today(tenant, other.id + 1000, after_midnight) == 5


def test_the_daily_limit_is_the_tenant_s_setting(admin):
    user, tenant = admin
    tenant.invite_daily_limit = 2
    db.session.commit()
    _issue(user, tenant)
    _issue(user, tenant)
    with pytest.raises(DailyLimitReached):
        services.issue(actor(user), tenant, role=Role.MEMBER, now=NOW)


def test_a_refused_issue_does_not_use_the_quota(admin):
    user, tenant = admin
    with pytest.raises(ValidationFailed):
        services.issue(actor(user), tenant, role=Role.MEMBER, ttl_hours=0, now=NOW)
    db.session.rollback()
    assert services.remaining_today(tenant, user.id, NOW) == 5


# ---------------------------------------------------------------- validate and accept


def test_validate_never_changes_anything(admin):
    user, tenant = admin
    invite, code = _issue(user, tenant)
    for _ in range(3):
        assert services.validate(code, NOW).id == invite.id
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(Invite, invite.id)
    assert (row.status, row.uses, row.accepted_at) == (InviteStatus.PENDING, 0, None)
    assert services.validate(code, row.expires_at) is None  # expired: the same None as unknown
    assert services.validate("hbx_i_" + "x" * 36, NOW) is None


def test_accept_gives_the_membership_with_the_invited_role_once(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant, role=Role.MANAGER)
    joiner = create_user()
    membership = services.accept(code, joiner, NOW + timedelta(hours=1))
    db.session.commit()
    assert (membership.tenant_id, membership.role, membership.deleted_at, membership.blocked_at) == (
        tenant.id, Role.MANAGER, None, None)
    db.session.expire_all()
    row = db.session.get(Invite, invite.id)
    assert (row.status, row.uses, row.accepted_at) == (InviteStatus.ACCEPTED, 1, NOW + timedelta(hours=1))
    assert [e.target_id for e in events("invite.accepted")] == [str(invite.id)]
    assert [e.target_id for e in events("membership.created")] == [str(joiner.id)]
    with pytest.raises(InviteInvalid):  # used: the same neutral refusal
        services.accept(code, create_user(), NOW + timedelta(hours=2))


def test_every_invalid_code_gets_one_neutral_refusal(admin, create_user):
    user, tenant = admin
    joiner = create_user()
    _, expired = _issue(user, tenant, ttl_hours=1)
    revoked_invite, revoked = _issue(user, tenant)
    services.revoke(actor(user), tenant, revoked_invite.id, now=NOW)
    _, used = _issue(user, tenant)
    services.accept(used, create_user(), NOW)
    db.session.commit()
    unknown = tokencodec.generate("i")
    later = NOW + timedelta(hours=1)
    messages = set()
    for code in ("nonsense", unknown, expired, revoked, used):
        with pytest.raises(InviteInvalid) as refused:
            services.accept(code, joiner, later)
        db.session.rollback()
        messages.add((refused.value.status, refused.value.code, str(refused.value)))
    assert len(messages) == 1
    assert _membership(tenant, joiner) is None


def test_an_email_bound_invite_is_only_for_that_email(admin, create_user):
    user, tenant = admin
    _, code = _issue(user, tenant, email="right@example.com")
    with pytest.raises(InviteForAnotherEmail):
        services.accept(code, create_user("wrong@example.com"), NOW)
    db.session.rollback()
    assert services.accept(code, create_user("Right@Example.com"), NOW) is not None


def test_a_member_already_here_is_told_so_and_the_invite_stays(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant)
    with pytest.raises(AlreadyMember):
        services.accept(code, user, NOW)
    db.session.rollback()
    assert services.validate(code, NOW).id == invite.id


def test_a_removed_member_is_restored_with_the_invited_role(admin, create_user):
    user, tenant = admin
    joiner = create_user(tenant=tenant, role=Role.MANAGER)
    _membership(tenant, joiner).soft_delete()
    db.session.commit()
    _, code = _issue(user, tenant, role=Role.MEMBER)
    membership = services.accept(code, joiner, NOW)
    db.session.commit()
    assert (membership.deleted_at, membership.role) == (None, Role.MEMBER)
    assert db.session.scalar(select(Membership.id).where(Membership.user_id == joiner.id)
                             .execution_options(all_tenants=True, include_deleted=True)) == membership.id


# ---------------------------------------------------------------- links and approval


def test_a_link_admits_up_to_its_seats_and_its_domain(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant, kind=InviteKind.LINK, max_uses=2, email_domain="example.com")
    with pytest.raises(InviteDomainRefused) as refused:
        services.accept(code, create_user("someone@elsewhere.org"), NOW)
    assert "example.com" in str(refused.value)
    db.session.rollback()
    first = create_user("a@example.com")
    services.accept(code, first, NOW)
    db.session.commit()
    with pytest.raises(AlreadyMember):
        services.accept(code, first, NOW)  # a member now: told so before any seat is taken
    db.session.rollback()
    services.accept(code, create_user("b@example.com"), NOW)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).status == InviteStatus.ACCEPTED
    with pytest.raises(InviteInvalid):
        services.accept(code, create_user("c@example.com"), NOW)


def test_a_link_held_for_approval_gives_the_membership_on_approval(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant, kind="link", max_uses=5, needs_approval=True)
    joiner, other = create_user(), create_user()
    assert services.accept(code, joiner, NOW) is None
    assert services.accept(code, other, NOW) is None
    db.session.commit()
    assert _membership(tenant, joiner) is None
    waiting = services.waiting(tenant)
    assert [w.user_id for w in waiting] == [joiner.id, other.id]
    membership = services.approve(actor(user), tenant, waiting[0].id, now=NOW)
    services.decline(actor(user), tenant, waiting[1].id, now=NOW)
    db.session.commit()
    assert membership.role == Role.MEMBER and _membership(tenant, other) is None
    assert services.waiting(tenant) == []
    with pytest.raises(AlreadyJoined):  # declined: the same link does not ask again
        services.accept(code, other, NOW)
    db.session.rollback()
    assert len(events("invite.join_requested")) == 2
    assert len(events("invite.join_approved")) == len(events("invite.join_declined")) == 1
    assert db.session.get(Invite, invite.id).uses == 2


def test_personal_invites_have_no_domain_or_approval(admin):
    user, tenant = admin
    with pytest.raises(ValidationFailed):
        services.issue(actor(user), tenant, role=Role.MEMBER, email_domain="example.com", now=NOW)
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        services.issue(actor(user), tenant, role=Role.MEMBER, kind="link", email="x@example.com", max_uses=2,
                       now=NOW)


# ---------------------------------------------------------------- managing


def test_resend_makes_the_old_code_fail_at_once_and_counts(admin, create_user):
    user, tenant = admin
    invite, old = _issue(user, tenant, ttl_hours=10)
    later = NOW + timedelta(hours=5)
    _, new = services.resend(actor(user), tenant, invite.id, now=later)
    db.session.commit()
    assert new != old
    assert services.validate(old, later) is None
    with pytest.raises(InviteInvalid):
        services.accept(old, create_user(), later)
    db.session.rollback()
    row = services.validate(new, later)
    assert row.id == invite.id and row.expires_at == later + timedelta(hours=10)
    assert services.remaining_today(tenant, user.id, later) == 3
    assert len(events("invite.resent")) == 1


def test_revoke_stops_a_pending_invite(admin, member_of):
    user, tenant = admin
    invite, code = _issue(user, tenant)
    services.revoke(actor(user), tenant, invite.id, now=NOW)
    db.session.commit()
    assert services.validate(code, NOW) is None
    assert [e.actor_user_id for e in events("invite.revoked")] == [user.id]
    with pytest.raises(services.InviteNotPending):
        services.revoke(actor(user), tenant, invite.id, now=NOW)
    db.session.rollback()
    # a manager cannot revoke an invite to a role above their own
    manager, _ = member_of(Role.MANAGER, tenant=tenant)
    admin_invite, _ = _issue(user, tenant, role=Role.ADMIN)
    with pytest.raises(BeyondRightsError):
        services.revoke(actor(manager), tenant, admin_invite.id, now=NOW)


def test_expire_due_marks_pending_invites_past_their_time_and_renew_brings_one_back(admin, create_user):
    user, tenant = admin
    short, short_code = _issue(user, tenant, ttl_hours=1)
    long, _ = _issue(user, tenant, ttl_hours=48)
    later = NOW + timedelta(hours=2)
    assert services.expire_due(later) == 1
    db.session.commit()
    assert services.expire_due(later) == 0
    db.session.expire_all()
    assert db.session.get(Invite, short.id).status == InviteStatus.EXPIRED
    assert db.session.get(Invite, long.id).status == InviteStatus.PENDING
    assert [e.target_id for e in events("invite.expired")] == [str(short.id)]
    with pytest.raises(services.InviteNotPending):
        services.resend(actor(user), tenant, short.id, now=later)
    db.session.rollback()
    _, fresh = services.renew(actor(user), tenant, short.id, now=later)
    db.session.commit()
    assert services.validate(short_code, later) is None
    assert services.accept(fresh, create_user(), later) is not None
    with pytest.raises(services.InviteNotPending):
        services.renew(actor(user), tenant, long.id, now=later)


def test_the_list_filters_and_searches(admin, member_of):
    user, tenant = admin
    _issue(user, tenant, email="alice@example.com")
    _issue(user, tenant, email="bob@example.com", role=Role.MANAGER)
    revoked, _ = _issue(user, tenant)
    services.revoke(actor(user), tenant, revoked.id, now=NOW)
    other_user, other_tenant = member_of(Role.ADMIN)
    _issue(other_user, other_tenant, email="alice@example.com")
    db.session.commit()
    assert services.list_invites(tenant).total == 3
    assert [i.email for i in services.list_invites(tenant, q="ALICE").items] == ["alice@example.com"]
    assert services.list_invites(tenant, role="manager").items[0].email == "bob@example.com"
    assert [i.id for i in services.list_invites(tenant, status="revoked").items] == [revoked.id]
    assert services.list_invites(tenant, inviter_id=other_user.id).total == 0
    with pytest.raises(ValidationFailed):
        services.list_invites(tenant, status="lost")


def test_every_use_is_kept(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant, kind="link", max_uses=3)
    joiner = create_user()
    membership = services.accept(code, joiner, NOW)
    db.session.commit()
    use = db.session.scalar(select(InviteUse).execution_options(all_tenants=True))
    assert (use.invite_id, use.user_id, use.membership_id, use.approved_at) == (invite.id, joiner.id,
                                                                                membership.id, NOW)


def test_a_revoked_link_s_waiting_joins_can_only_be_declined(admin, create_user):
    user, tenant = admin
    invite, code = _issue(user, tenant, kind="link", max_uses=5, needs_approval=True)
    joiner = create_user()
    services.accept(code, joiner, NOW)
    services.revoke(actor(user), tenant, invite.id, now=NOW)
    db.session.commit()
    [use] = services.waiting(tenant)
    with pytest.raises(Conflict, match="was revoked"):
        services.approve(actor(user), tenant, use.id, now=NOW)
    db.session.rollback()
    assert _membership(tenant, joiner) is None
    services.decline(actor(user), tenant, use.id, now=NOW)
    db.session.commit()
    assert services.waiting(tenant) == []
