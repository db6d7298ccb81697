"""Member administration in one tenant: the searchable list, and the actions an admin takes on a member (block,
unblock, unlock, change role, remove, restore, sign out everywhere), each under the privilege ceiling, each audited.

A tenant admin's block suspends the membership here only (`Membership.blocked_at`): the person's policy in this
tenant denies everything (pages and tokens, at their next request), their sessions whose current tenant is this
one end. Blocking the account everywhere (`Profile.status`) is for platform operators."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, false, func, or_, select

from app import audit
from app.auth.reset import send_reset
from app.core.actor import Actor
from app.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.core.fields import one_of
from app.core.paging import Page, page_of
from app.extensions import db
from app.permissions.ceiling import BeyondRightsError, check_may_act_on, rank
from app.sessions.models import EndReason
from app.sessions.services import end_user_sessions
from app.tenants.models import Tenant
from app.users.models import Membership, Profile, Role, User, UserStatus
from app.users.search import person_matches


class MemberState(enum.StrEnum):
    """What the list's state filter picks."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    LOCKED = "locked"
    REMOVED = "removed"


class TwoFactor(enum.StrEnum):
    """What the list's two-step sign-in filter picks (`Profile.twofa_enabled_at`, kept by app.twofactor)."""

    ON = "on"
    OFF = "off"
    #: off, on a live membership not blocked here whose role the tenant requires it of
    MISSING = "missing"


class Sort(enum.StrEnum):
    """The list's orders."""

    EMAIL = "email"
    NAME = "name"
    ROLE = "role"
    LAST_SIGN_IN = "last_sign_in"
    JOINED = "joined"


@dataclass(frozen=True)
class MemberQuery:
    """The list's search, filters and order (all optional)."""

    q: str | None = None
    state: MemberState | None = None
    role: Role | None = None
    twofa: TwoFactor | None = None
    sort: Sort = Sort.EMAIL


_ROLE_ORDER = {Role.OWNER: 0, Role.ADMIN: 1, Role.MANAGER: 2, Role.MEMBER: 3}


def _statement(tenant_id: int, query: MemberQuery, now: datetime) -> Select:
    removed = query.state == MemberState.REMOVED
    statement = (
        select(User, Membership, Profile)
        .join(Membership, and_(Membership.user_id == User.id, Membership.tenant_id == tenant_id))
        .join(Profile, Profile.user_id == User.id)
        .where(Membership.deleted_at.is_not(None) if removed else Membership.deleted_at.is_(None))
        .execution_options(include_deleted=removed)
    )
    if query.q:
        statement = statement.where(person_matches(query.q))
    if query.role is not None:
        statement = statement.where(Membership.role == query.role)
    if query.state == MemberState.ACTIVE:
        statement = statement.where(Membership.blocked_at.is_(None), Profile.status == UserStatus.ACTIVE)
    elif query.state == MemberState.BLOCKED:
        statement = statement.where(or_(Membership.blocked_at.is_not(None), Profile.status == UserStatus.BLOCKED))
    elif query.state == MemberState.LOCKED:
        statement = statement.where(Profile.locked_until > now)
    if query.twofa == TwoFactor.ON:
        statement = statement.where(Profile.twofa_enabled_at.is_not(None))
    elif query.twofa == TwoFactor.OFF:
        statement = statement.where(Profile.twofa_enabled_at.is_(None))
    elif query.twofa == TwoFactor.MISSING:
        statement = statement.where(_twofa_missing(db.session.get(Tenant, tenant_id)))
    return statement.order_by(*_order(query.sort), User.id)


def twofa_required_roles(tenant: Tenant | None) -> list[Role]:
    """The roles the tenant requires a second factor of (its `twofa_required_roles`, unknown names ignored)."""
    names = (tenant.twofa_required_roles or "").split(",") if tenant is not None else []
    return [role for role in Role if role.value in names]


def _twofa_missing(tenant: Tenant | None):
    # One definition for the list's filter and the dashboard card: no second factor, on a live membership not
    # blocked here, in a role the tenant requires it of. Where the tenant accepts codes by email, a member without
    # an app passes a second step at every sign-in: nobody lacks it.
    roles = twofa_required_roles(tenant)
    if not roles or tenant.twofa_email_codes:
        return false()
    return and_(Profile.twofa_enabled_at.is_(None), Membership.deleted_at.is_(None),
                Membership.blocked_at.is_(None), Membership.role.in_(roles))


def twofa_summary(tenant: Tenant) -> dict[str, int]:
    """Counts for the two-step sign-in card, over live memberships not blocked here: members, those with a
    second factor on, and those without one whose role the tenant requires it of."""
    live = Membership.deleted_at.is_(None) & Membership.blocked_at.is_(None)
    row = db.session.execute(
        select(func.count().filter(live), func.count().filter(live & Profile.twofa_enabled_at.is_not(None)),
               func.count().filter(_twofa_missing(tenant)))
        .select_from(Membership).join(Profile, Profile.user_id == Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant.id, User.deleted_at.is_(None))
    ).one()
    return dict(zip(("members", "enabled", "missing"), row, strict=True))


def _order(sort: Sort) -> tuple:
    return {
        Sort.EMAIL: (User.email,),
        Sort.NAME: (func.lower(User.name), User.email),
        Sort.ROLE: (_role_rank(), User.email),
        Sort.LAST_SIGN_IN: (Profile.last_login_at.desc().nulls_last(), User.email),
        Sort.JOINED: (Membership.created_at.desc(), User.email),
    }[sort]


def _role_rank():
    return case({role.value: index for role, index in _ROLE_ORDER.items()}, value=Membership.role)


#: the users page counts this many members at most ("more than 1,000 members."): counting a tenant of 100,000
#: cost 200-300 ms a page on PostgreSQL, for a number nobody pages through (docs/performance.md)
COUNT_UP_TO = 1000


def member_list(tenant: Tenant, query: MemberQuery, *, now: datetime, page: int = 1, per_page: int = 25,
                clamp: bool = True, count_up_to: int | None = None) -> Page:
    """One page of the tenant's members as (user, membership, profile) rows; search and filters run in SQL. A page
    past the end is the last one (`clamp`, for a person), or empty (for the API). `count_up_to`: see `page_of`
    (the page passes COUNT_UP_TO; the API counts exactly, its envelope promises a total)."""
    return page_of(_statement(tenant.id, query, now), page, per_page, clamp=clamp, rows=True,
                   count_up_to=count_up_to)


def member_state(membership: Membership, profile: Profile, now: datetime) -> str:
    """A member's one state, as the list's filters see it, the first that applies: `removed`, `blocked` (here or
    everywhere), `locked`, `active`; `inactive` for an account that may not sign in for another reason (pending,
    inactive), which no state filter picks."""
    if membership.deleted_at is not None:
        return MemberState.REMOVED.value
    if membership.blocked_at is not None or profile.status == UserStatus.BLOCKED:
        return MemberState.BLOCKED.value
    if profile.is_locked(now):
        return MemberState.LOCKED.value
    return MemberState.ACTIVE.value if profile.status == UserStatus.ACTIVE else "inactive"


#: the CSV export's columns, in order
EXPORT_COLUMNS = ("email", "name", "role", "state", "locked_until", "last_sign_in", "joined", "twofa_enabled_at")


def export_rows(tenant_id: int, query: MemberQuery, *, now: datetime) -> Iterator[tuple]:
    """Every member the list's filters pick, as plain tuples of EXPORT_COLUMNS, streamed in batches on a connection
    of its own: the export outlives the request's transaction (the response is written after it commits)."""
    picked = _statement(tenant_id, query, now).where(User.deleted_at.is_(None)).subquery()
    columns = select(User.email, User.name, Membership.role, Membership.deleted_at, Membership.blocked_at,
                     Profile.status, Profile.locked_until, Profile.last_login_at, Membership.created_at,
                     Profile.twofa_enabled_at)
    statement = (columns.join_from(User, Membership, and_(Membership.user_id == User.id,
                                                          Membership.tenant_id == tenant_id))
                 .join(Profile, Profile.user_id == User.id)
                 .join(picked, picked.c.id == User.id)
                 .order_by(*_order(query.sort), User.id))
    engine = db.engine  # taken now: the rows are read after the request (and its app context) ended

    def rows() -> Iterator[tuple]:
        with engine.connect() as connection:
            result = connection.execution_options(yield_per=500).execute(statement)
            for (email, name, role, removed_at, blocked_at, status, locked_until, last_login_at, joined,
                 twofa_at) in result:
                state = "removed" if removed_at else "blocked" if blocked_at else str(status)
                yield email, name, str(role), state, locked_until, last_login_at, joined, twofa_at

    return rows()


def member(tenant: Tenant, user_id: int, *, include_removed: bool = True) -> tuple[User, Membership]:
    """A member of the tenant (a removed one too, to restore it) with their membership; 404 otherwise."""
    found = db.session.execute(
        select(User, Membership).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, User.id == user_id)
        .execution_options(include_deleted=include_removed)
    ).first()
    if found is None or found[0].deleted_at is not None:
        raise NotFound(str(_l("No such member in this tenant.")))
    return found[0], found[1]


def _live_owner_ids(tenant_id: int) -> list[int]:
    # Locked rows: two admins demoting, blocking or removing the last two owners at once cannot both succeed.
    return list(db.session.scalars(
        select(Membership.user_id).where(Membership.tenant_id == tenant_id, Membership.role == Role.OWNER,
                                         Membership.deleted_at.is_(None), Membership.blocked_at.is_(None))
        .with_for_update()))


def _keep_an_owner(tenant: Tenant, membership: Membership) -> None:
    if membership.role != Role.OWNER:
        return
    if [uid for uid in _live_owner_ids(tenant.id) if uid != membership.user_id]:
        return
    raise Conflict(str(_l("The tenant's last owner cannot be blocked, removed or given another role: make "
                          "someone else an owner first.")))


def _acting_on(actor: Actor, tenant: Tenant, user_id: int) -> tuple[User, Membership]:
    user, membership = member(tenant, user_id)
    check_may_act_on(actor, tenant.id, user.id)
    return user, membership


def _audit(action: str, actor: Actor, tenant: Tenant, user: User, **details) -> None:
    audit.record(action, tenant_id=tenant.id, target_type="user", target_id=user.id,
                 details=details or None, **actor.meta())


def _not_oneself(actor: Actor, user: User, what) -> None:
    if actor.user.id == user.id:
        raise Conflict(str(what))


def block_member(actor: Actor, tenant: Tenant, user_id: int, *, now: datetime) -> User:
    """Suspend a membership: everything in this tenant is denied; sessions here end; tokens here stop."""
    user, membership = _acting_on(actor, tenant, user_id)
    _not_oneself(actor, user, _l("You cannot block yourself."))
    if membership.blocked_at is not None:
        raise Conflict(str(_l("%(email)s is blocked here already.", email=user.email)))
    _keep_an_owner(tenant, membership)
    membership.blocked_at = now
    ended = end_user_sessions(user.id, reason=EndReason.BLOCKED, now=now, tenant_id=tenant.id)
    db.session.flush()
    _audit("member.blocked", actor, tenant, user, sessions_ended=ended)
    return user


def unblock_member(actor: Actor, tenant: Tenant, user_id: int) -> User:
    """Lift a block of this tenant."""
    user, membership = _acting_on(actor, tenant, user_id)
    if membership.blocked_at is None:
        raise Conflict(str(_l("%(email)s is not blocked here.", email=user.email)))
    membership.blocked_at = None
    db.session.flush()
    _audit("member.unblocked", actor, tenant, user)
    return user


def unlock_member(actor: Actor, tenant: Tenant, user_id: int) -> User:
    """End a temporary sign-in lock now and reset the failure counter."""
    user, _membership = _acting_on(actor, tenant, user_id)
    profile = user.profile
    if profile.locked_until is None and not profile.failed_login_count:
        raise Conflict(str(_l("%(email)s is not locked.", email=user.email)))
    profile.locked_until, profile.failed_login_count = None, 0
    db.session.flush()
    _audit("member.unlocked", actor, tenant, user)
    return user


def change_role(actor: Actor, tenant: Tenant, user_id: int, role: Role) -> User:
    """Give a member another role: never above the actor's own, never leaving the tenant without an owner."""
    user, membership = _acting_on(actor, tenant, user_id)
    if not actor.user.is_operator and role.rank > rank(actor.user.id, tenant.id):
        raise BeyondRightsError(str(_l("You cannot give a role above your own.")), field="role")
    if membership.role == role:
        return user  # nothing to change: sent twice, or the role it has chosen again
    if role != Role.OWNER:
        _keep_an_owner(tenant, membership)
    before = membership.role
    membership.role = role
    db.session.flush()
    _audit("member.role_changed", actor, tenant, user, before=str(before), after=str(role))
    return user


def remove_member(actor: Actor, tenant: Tenant, user_id: int, *, now: datetime) -> User:
    """Remove a member from the tenant (restorable): their sessions here end, their tokens here stop."""
    user, membership = _acting_on(actor, tenant, user_id)
    _not_oneself(actor, user, _l("You cannot remove yourself."))
    if membership.deleted_at is not None:
        raise Conflict(str(_l("%(email)s was removed already.", email=user.email)))
    _keep_an_owner(tenant, membership)
    membership.soft_delete()
    ended = end_user_sessions(user.id, reason=EndReason.REMOVED, now=now, tenant_id=tenant.id)
    db.session.flush()
    _audit("member.removed", actor, tenant, user, sessions_ended=ended)
    return user


def restore_member(actor: Actor, tenant: Tenant, user_id: int) -> User:
    """Bring a removed member back, with the role they had."""
    user, membership = member(tenant, user_id)
    if membership.deleted_at is None:
        raise Conflict(str(_l("%(email)s is a member already.", email=user.email)))
    if not actor.user.is_operator and membership.role.rank > rank(actor.user.id, tenant.id):
        raise BeyondRightsError(str(_l("Their role (%(role)s) ranks above yours.", role=membership.role.label)))
    membership.restore()
    db.session.flush()
    _audit("member.restored", actor, tenant, user)
    return user


def sign_out_everywhere(actor: Actor, tenant: Tenant, user_id: int, *, now: datetime) -> tuple[User, int]:
    """End every session of a member, in every browser; returns the person and how many ended."""
    user, _membership = _acting_on(actor, tenant, user_id)
    ended = end_user_sessions(user.id, reason=EndReason.ENDED_BY_ADMIN, now=now)
    _audit("member.signed_out_everywhere", actor, tenant, user, sessions_ended=ended)
    return user, ended


class Action(enum.StrEnum):
    """What an admin may do to members, one at a time or to a selection."""

    BLOCK = "block"
    UNBLOCK = "unblock"
    UNLOCK = "unlock"
    REMOVE = "remove"
    RESTORE = "restore"
    SIGN_OUT = "sign-out"


#: the one check of an action name (the bulk form, the API)
check_action = one_of([action.value for action in Action])


def act(actor: Actor, tenant: Tenant, user_id: int, action: Action, *, now: datetime) -> User:
    """Run one `action` on one member (the route's one service call)."""
    if action == Action.BLOCK:
        return block_member(actor, tenant, user_id, now=now)
    if action == Action.UNBLOCK:
        return unblock_member(actor, tenant, user_id)
    if action == Action.UNLOCK:
        return unlock_member(actor, tenant, user_id)
    if action == Action.REMOVE:
        return remove_member(actor, tenant, user_id, now=now)
    if action == Action.RESTORE:
        return restore_member(actor, tenant, user_id)
    return sign_out_everywhere(actor, tenant, user_id, now=now)[0]


class BlockStatus(enum.StrEnum):
    """What an admin sets on a membership through the API: `blocked` here, or `active` (not blocked here)."""

    ACTIVE = "active"
    BLOCKED = "blocked"


#: the one check of a block status (the API's `status`)
check_block_status = one_of([status.value for status in BlockStatus])


def update_member(actor: Actor, tenant: Tenant, user_id: int, *, role: Role | None = None,
                  status: BlockStatus | None = None, now: datetime) -> tuple[User, Membership]:
    """Set a member's role and/or whether they are blocked here (the API's PATCH), through the pages' own services,
    under the same ceiling. Asking for what already is changes nothing (a repeated request is harmless), but is
    still refused on someone ranking above the actor."""
    _user, membership = _acting_on(actor, tenant, user_id)
    if role is not None:
        change_role(actor, tenant, user_id, role)
    if status is not None and (membership.blocked_at is not None) != (status == BlockStatus.BLOCKED):
        act(actor, tenant, user_id, Action.BLOCK if status == BlockStatus.BLOCKED else Action.UNBLOCK, now=now)
    return member(tenant, user_id)


@dataclass
class BulkResult:
    """What a bulk action did: the emails it acted on, and each refusal with its reason."""

    done: list[str]
    refused: list[tuple[str, str]]


def act_on_many(actor: Actor, tenant: Tenant, user_ids: list[int], action: Action, *, now: datetime) -> BulkResult:
    """Run `action` on each selected member; one refusal (the ceiling, the last owner) skips that person only."""
    if not user_ids:
        raise ValidationFailed(str(_l("Select at least one member first.")))
    result = BulkResult([], [])
    for user_id in dict.fromkeys(user_ids):  # once each, in the order given
        try:
            with db.session.begin_nested():
                user = act(actor, tenant, user_id, action, now=now)
            result.done.append(user.email)
        except DomainError as refusal:
            found = db.session.get(User, user_id)
            result.refused.append((found.email if found else f"#{user_id}", refusal.detail or str(refusal.title)))
    return result


def member_summary(tenant_id: int, *, now: datetime) -> dict[str, int]:
    """Counts for the dashboard's users card: members, blocked here or everywhere, locked now, removed."""
    live = Membership.deleted_at.is_(None)
    blocked = Membership.blocked_at.is_not(None) | (Profile.status == UserStatus.BLOCKED)
    row = db.session.execute(
        select(func.count().filter(live),
               func.count().filter(live & blocked),
               func.count().filter(live & (Profile.locked_until > now)),
               func.count().filter(Membership.deleted_at.is_not(None)))
        .select_from(Membership).join(Profile, Profile.user_id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id).execution_options(include_deleted=True)
    ).one()
    return dict(zip(("members", "blocked", "locked", "removed"), row, strict=True))


def send_member_reset(actor: Actor, tenant: Tenant, user_id: int, *, now: datetime, lifetime: timedelta,
                      link: Callable[[str], str], locale: str) -> User:
    """Mail a member a single-use password-reset link (under the ceiling; the admin never sees the link)."""
    user, membership = _acting_on(actor, tenant, user_id)
    if membership.deleted_at is not None or user.profile.status != UserStatus.ACTIVE:
        raise Conflict(str(_l("%(email)s cannot sign in here, so no reset link is sent.", email=user.email)))
    send_reset(actor, user, tenant_id=tenant.id, now=now, lifetime=lifetime, link=link, locale=locale)
    return user


def set_account_status(user: User, status: UserStatus, *, now: datetime, actor_id: int | None = None) -> int:
    """A platform operator blocks (or reactivates) an account everywhere: every session ends at once, every token
    stops at its next request. Returns how many sessions ended."""
    user.profile.status = status
    ended = end_user_sessions(user.id, reason=EndReason.ENDED_BY_ADMIN, now=now) if status != UserStatus.ACTIVE else 0
    db.session.flush()
    audit.record("account.status_changed", actor_id=actor_id, target_type="user", target_id=user.id,
                 details={"status": str(status), "sessions_ended": ended})
    return ended
