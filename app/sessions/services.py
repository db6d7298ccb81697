"""Session rules: start, check, renew and end server-side sessions; the lists people and admins see.

The cookie carries a random id (256 bits); the row keeps only its keyed digest, so a copy of the table signs no
one in. Every page request reads its row once (`find_live`), by that digest's unique index, together with the
person and their profile."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, bindparam, or_, select, update
from sqlalchemy.orm import defer

from app import audit
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.errors import NotFound
from app.core.paging import Page, page_of
from app.extensions import db
from app.permissions.ceiling import check_may_act_on
from app.sessions.devices import device_label
from app.sessions.models import EndReason, UserSession
from app.tenants.models import Tenant
from app.users.models import Membership, User, UserStatus
from app.users.search import person_matches

#: bytes of randomness in a session id (256 bits; the issue's floor is 128)
SESSION_ID_BYTES = 32
#: `last_seen_at` is written at most this often per session
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lives: without activity (`idle`) and at most (`absolute`)."""

    idle: timedelta
    absolute: timedelta


def _digest(raw: str) -> str:
    return crypto().digest(raw)


def start_session(user: User, *, ip: str, user_agent: str, now: datetime, lifetimes: Lifetimes,
                  tenant_id: int | None = None, stage: str | None = None) -> tuple[UserSession, str]:
    """A new session for `user` (a sign-in): the row and the raw id for the cookie (shown nowhere else). With a
    `stage` (SessionStage) the session reaches only that stage's routes until `advance_session`."""
    raw = secrets.token_urlsafe(SESSION_ID_BYTES)
    row = UserSession(user_id=user.id, digest=_digest(raw), tenant_id=tenant_id, ip=ip or None,
                      user_agent=(user_agent or "")[:512] or None, device=device_label(user_agent),
                      signed_in_at=now, last_seen_at=now, expires_at=now + lifetimes.absolute, stage=stage)
    db.session.add(row)
    db.session.flush()
    return row, raw


def advance_session(row: UserSession, stage: str | None, *, now: datetime) -> str:
    """The next stage of sign-in (None: signed in), under a new id: the cookie of the stage before stops working.
    Passing a stage is proving oneself, so it also counts as a step-up."""
    row.stage = stage
    row.reauth_at = now
    return renew_session(row)


def mark_reauthenticated(row: UserSession, now: datetime) -> None:
    """The person proved themselves again in this session (the step-up)."""
    row.reauth_at = now
    db.session.flush()


def renew_session(row: UserSession) -> str:
    """A new id for the same session (at a privilege change): the old cookie stops working at once."""
    raw = secrets.token_urlsafe(SESSION_ID_BYTES)
    row.digest = _digest(raw)
    db.session.flush()
    return raw


#: the session check's one statement, built once: the session by its digest (unique index) with its person and
#: profile; the encrypted address and user agent are not read (only the session pages show them)
# With the slug of the session's current tenant while the person is still a member there (as `page_tenant` finds
# it: a membership blocked here still lands, and the tenant's gate says why): where `/` sends them, without a
# query of its own. The tenant's pages check everything again when they open.
_FIND_LIVE = (
    select(UserSession, User, Tenant.slug).join(User, User.id == UserSession.user_id)
    .outerjoin(Membership, and_(Membership.tenant_id == UserSession.tenant_id,
                                Membership.user_id == UserSession.user_id,
                                Membership.deleted_at.is_(None)))
    .outerjoin(Tenant, and_(Tenant.id == Membership.tenant_id, Tenant.deleted_at.is_(None)))
    .where(UserSession.digest == bindparam("digest"), UserSession.ended_at.is_(None))
    .options(defer(UserSession.ip), defer(UserSession.user_agent))
    .execution_options(all_tenants=True)
)


class LiveSession(NamedTuple):
    """What the session check found: the row, its person, and the slug of the session's current tenant while
    they may still land there (None otherwise)."""

    row: UserSession
    user: User
    tenant_slug: str | None


def find_live(raw: str | None, *, now: datetime, lifetimes: Lifetimes) -> LiveSession | None:
    """The live session of cookie id `raw` with its person (one indexed read), or None.

    A session past its idle or absolute limit is ended here, so it never works again even if the clock of the
    clean-up has not come round; a session of a person who may not sign in (blocked, deleted) is refused."""
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    found = db.session.execute(_FIND_LIVE, {"digest": _digest(raw)}).first()
    if found is None:
        return None
    row, user, tenant_slug = found
    if row.expires_at <= now:
        _end_rows([row.id], EndReason.EXPIRED, now)
        return None
    if now - row.last_seen_at > lifetimes.idle:
        _end_rows([row.id], EndReason.IDLE, now)
        return None
    if user.deleted_at is not None or user.profile is None or user.profile.status != UserStatus.ACTIVE:
        return None
    return LiveSession(row, user, tenant_slug)


def mark_seen(row: UserSession, *, now: datetime, tenant_id: int | None) -> bool:
    """Record activity: at most once a minute (and when the current tenant changes); True when written.
    Conditional, so parallel requests of one browser write it once."""
    values = {}
    if now - row.last_seen_at >= SEEN_EVERY:
        values["last_seen_at"] = now
    if tenant_id is not None and tenant_id != row.tenant_id:
        values["tenant_id"] = tenant_id
    if not values:
        return False
    db.session.execute(
        update(UserSession).where(UserSession.id == row.id, UserSession.ended_at.is_(None))
        .values(**values).execution_options(synchronize_session=False))
    return True


def forget_session(row_id: int) -> None:
    """Sign-out: the row is deleted; its cookie, replayed, finds nothing."""
    db.session.query(UserSession).filter(UserSession.id == row_id).delete(synchronize_session=False)


def _end_rows(ids: list[int], reason: str, now: datetime) -> int:
    if not ids:
        return 0
    return db.session.execute(
        update(UserSession).where(UserSession.id.in_(ids), UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False)).rowcount


def end_user_sessions(user_id: int, *, reason: str, now: datetime, keep: int | None = None,
                      tenant_id: int | None = None) -> int:
    """End every live session of a person (except `keep`; only those whose current tenant is `tenant_id` when
    given); returns how many."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    if tenant_id is not None:
        query = query.where(UserSession.tenant_id == tenant_id)
    return db.session.execute(query.values(ended_at=now, end_reason=reason)
                              .execution_options(synchronize_session=False)).rowcount


def live_sessions_of(user_id: int, *, now: datetime, lifetimes: Lifetimes) -> list[UserSession]:
    """A person's live sessions, most recently seen first."""
    return list(db.session.scalars(_live(now, lifetimes).where(UserSession.user_id == user_id)
                                   .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))


def _live(now: datetime, lifetimes: Lifetimes) -> Select:
    return select(UserSession).where(UserSession.ended_at.is_(None), UserSession.expires_at > now,
                                     UserSession.last_seen_at >= now - lifetimes.idle)


def tenant_session_page(tenant_id: int, *, now: datetime, lifetimes: Lifetimes, search: str | None = None,
                        page: int = 1, per_page: int = 25, clamp: bool = True) -> Page:
    """One page of the live sessions of the tenant's members (session, user), most recently seen first. A page
    past the end is the last one (`clamp`, for a person), or empty (for the API)."""
    query = (
        _live(now, lifetimes).add_columns(User)
        .join(User, User.id == UserSession.user_id)
        .join(Membership, and_(Membership.user_id == User.id, Membership.tenant_id == tenant_id))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    if search:
        query = query.where(person_matches(search))
    return page_of(query, page, per_page, clamp=clamp, rows=True)


def own_session(user_id: int, session_id: int) -> UserSession | None:
    """The live session `session_id` when it is `user_id`'s, else None."""
    return db.session.scalar(select(UserSession).where(UserSession.id == session_id,
                                                       UserSession.user_id == user_id,
                                                       UserSession.ended_at.is_(None)))


def end_own_session(actor: Actor, session_id: int, *, now: datetime) -> bool:
    """The person ends one of their sessions (another browser); False when it is not theirs or already over."""
    ended = db.session.execute(
        update(UserSession).where(UserSession.id == session_id, UserSession.user_id == actor.user.id,
                                  UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=EndReason.ENDED_BY_USER)
        .execution_options(synchronize_session=False)).rowcount
    if ended:
        audit.record("session.ended", actor_id=actor.user.id, target_type="session", target_id=session_id,
                     ip=actor.ip, user_agent=actor.user_agent, request_id=actor.request_id)
    return bool(ended)


def end_other_sessions(actor: Actor, current_id: int, *, now: datetime) -> int:
    """The person ends every session but this one; returns how many."""
    count = end_user_sessions(actor.user.id, reason=EndReason.ENDED_BY_USER, now=now, keep=current_id)
    audit.record("session.others_ended", actor_id=actor.user.id, target_type="user", target_id=actor.user.id,
                 ip=actor.ip, user_agent=actor.user_agent, request_id=actor.request_id, details={"count": count})
    return count


def cleanup(*, now: datetime, lifetimes: Lifetimes, keep_ended: timedelta) -> dict[str, int]:
    """End sessions past their idle or absolute limit; delete rows ended more than `keep_ended` ago."""
    stale = db.session.execute(
        update(UserSession).where(UserSession.ended_at.is_(None),
                                  or_(UserSession.expires_at <= now, UserSession.last_seen_at < now - lifetimes.idle))
        .values(ended_at=now, end_reason=EndReason.IDLE).execution_options(synchronize_session=False)).rowcount
    deleted = db.session.query(UserSession).filter(UserSession.ended_at < now - keep_ended) \
        .delete(synchronize_session=False)
    return {"ended": stale, "deleted": deleted}


def member_session(tenant_id: int, session_id: int) -> tuple[UserSession, User] | None:
    """The live session `session_id` of a member of the tenant, with its person; None otherwise (another tenant's
    person gets the same answer as no session at all)."""
    return db.session.execute(
        select(UserSession, User).join(User, User.id == UserSession.user_id)
        .join(Membership, and_(Membership.user_id == User.id, Membership.tenant_id == tenant_id))
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
    ).first()


def end_member_session(actor: Actor, tenant_id: int, session_id: int, *, now: datetime) -> User:
    """An admin ends a member's session; refused for someone ranking above the admin. Returns whose it was."""
    found = member_session(tenant_id, session_id)
    if found is None:
        raise NotFound(str(_l("This session has ended already, or is not one of this tenant's.")))
    row, user = found
    check_may_act_on(actor, tenant_id, user.id)
    _end_rows([row.id], EndReason.ENDED_BY_ADMIN, now)
    audit.record("session.ended_by_admin", tenant_id=tenant_id, target_type="session", target_id=row.id,
                 details={"user_id": user.id}, **actor.meta())
    return user


def why_ended(raw: str | None) -> str | None:
    """Why the session of cookie id `raw` ended (an EndReason), or None when there is no such row (signed out,
    cleaned up, never was): read only when the session check found no live session for a cookie that named one."""
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    return db.session.scalar(select(UserSession.end_reason).where(UserSession.digest == _digest(raw)))
