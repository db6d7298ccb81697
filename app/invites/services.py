"""The invites domain's services: issue, validate, accept, approve/decline, revoke, resend, renew, expire, list.

Plain functions with explicit arguments: they never commit and never read the request. The race-sensitive steps
are single conditional statements the database decides:

- the daily limit per issuer: `invite_quota` has one row per (tenant, issuer, the tenant's local day); a new code
  (issue, resend, renew) does `INSERT ... ON CONFLICT DO NOTHING`, then `UPDATE ... SET count = count + 1 WHERE
  count < limit RETURNING count`. The row stays locked until the transaction ends, so parallel requests queue on
  it and exactly `limit` pass;
- a seat of an invite: `UPDATE invite SET uses = uses + 1 WHERE id = :id AND digest = :digest AND status =
  'pending' AND uses < max_uses AND expires_at > :now RETURNING uses`: one success for a personal code submitted
  many times at once, N for a link of N seats; the digest in the condition makes a resent invite's old code fail
  even against a read made before the resend.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app import audit
from app.core.actor import Actor
from app.core.db import DirectRead, once_more_if_dropped
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited
from app.core.fieldadapters import FieldErrors, validated
from app.core.fields import email_key
from app.core.paging import Page, contains_text, page_of
from app.extensions import db
from app.invites import codes
from app.invites.models import (
    Invite,
    InviteKind,
    InviteQuota,
    InviteStatus,
    InviteUse,
    check_email_domain,
    check_invite_email,
    check_invite_kind,
    check_invite_role,
    check_invite_status,
    check_max_uses,
    check_ttl_hours,
)
from app.permissions.ceiling import BeyondRightsError, rank
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User

PER_PAGE = 25


class InviteInvalid(DomainError):
    """One neutral refusal for a malformed, unknown, expired, revoked or used code (nothing tells them apart)."""

    code = "invite_invalid"
    status = 404
    title = _l("This invite is not valid. It may have expired or been used; ask for a new one.")


class InviteForAnotherEmail(Forbidden):
    code = "invite_for_another_email"
    title = _l("This invite was sent to another email address. Sign in with that address to accept it.")


class InviteDomainRefused(Forbidden):
    code = "invite_domain_refused"
    title = _l("This link is only for email addresses at another domain.")


class AlreadyMember(Conflict):
    code = "already_member"
    title = _l("You are already a member of this organization.")


class AlreadyJoined(Conflict):
    code = "already_joined"
    title = _l("You have already used this link.")


class DailyLimitReached(RateLimited):
    code = "invite_daily_limit"
    title = _l("You have reached today's limit of invites. Try again tomorrow.")


class InviteNotPending(Conflict):
    code = "invite_not_pending"
    title = _l("This invite is no longer pending.")


# ---------------------------------------------------------------- helpers


def local_day(tenant: Tenant, now: datetime):
    """The date of `now` on the tenant's calendar (its time zone)."""
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


def _insert():
    return pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def remaining_today(tenant: Tenant, issuer_id: int, now: datetime) -> int:
    """How many more invites `issuer_id` may make today (the tenant's day)."""
    used = db.session.scalar(select(InviteQuota.count).where(
        InviteQuota.tenant_id == tenant.id, InviteQuota.issuer_id == issuer_id,
        InviteQuota.day == local_day(tenant, now))) or 0
    return max(0, tenant.invite_daily_limit - used)


def _take_quota(actor: Actor, tenant: Tenant, now: datetime) -> int:
    """Count one more invite for the actor today, or refuse (429) at the limit; returns the day's count. The
    quota row stays locked until the transaction ends. Platform operators are not limited."""
    if actor.user.is_operator:
        return 0
    day = local_day(tenant, now)
    db.session.execute(_insert()(InviteQuota).values(tenant_id=tenant.id, issuer_id=actor.user.id, day=day, count=0,
                                                     created_at=now, updated_at=now)
                       .on_conflict_do_nothing(index_elements=["tenant_id", "issuer_id", "day"]))
    count = db.session.execute(
        update(InviteQuota)
        .where(InviteQuota.tenant_id == tenant.id, InviteQuota.issuer_id == actor.user.id, InviteQuota.day == day,
               InviteQuota.count < tenant.invite_daily_limit)
        .values(count=InviteQuota.count + 1, updated_at=now)
        .returning(InviteQuota.count).execution_options(synchronize_session=False)).scalar_one_or_none()
    if count is None:
        raise DailyLimitReached(str(_l("You have made %(limit)d invites today, the daily limit here. Try again "
                                       "tomorrow.", limit=tenant.invite_daily_limit)))
    return count


def _check_role_ceiling(actor: Actor, tenant: Tenant, role: Role) -> None:
    if not actor.user.is_operator and role.rank > rank(actor.user.id, tenant.id):
        raise BeyondRightsError(str(_l("You cannot invite to a role above your own.")), field="role")


def _audit(action: str, actor: Actor | None, invite: Invite, **details) -> None:
    audit.record(action, tenant_id=invite.tenant_id, target_type="invite", target_id=invite.id,
                 details={"hint": invite.hint, "kind": str(invite.kind), "role": str(invite.role), **details},
                 **(actor.meta() if actor else {}))


def _invite_of(tenant: Tenant, invite_id: int, *, lock: bool = False) -> Invite:
    statement = select(Invite).where(Invite.id == invite_id, Invite.tenant_id == tenant.id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    invite = db.session.scalar(statement)
    if invite is None:
        raise NotFound(str(_l("No such invite.")))
    return invite


def get_invite(tenant: Tenant, invite_id: int) -> Invite:
    """One invite of the tenant (404 for any other id)."""
    return _invite_of(tenant, invite_id)


def waiting_join(tenant: Tenant, use_id: int) -> InviteUse:
    """One join of the tenant that waits for approval (404 for any other id)."""
    use = db.session.scalar(select(InviteUse).where(InviteUse.id == use_id, InviteUse.tenant_id == tenant.id,
                                                    InviteUse.approved_at.is_(None)))
    if use is None:
        raise NotFound(str(_l("No such request to join.")))
    return use


# ---------------------------------------------------------------- issuing


def issue(actor: Actor, tenant: Tenant, *, role, email: str | None = None, ttl_hours: int | None = None,
          now: datetime, kind=InviteKind.PERSONAL, max_uses: int = 1, email_domain: str | None = None,
          needs_approval: bool = False) -> tuple[Invite, str]:
    """Make an invite (a personal one, or a shareable link) and return it with its code, shown once.

    The route checks `invites.create`; here: every field at once, the role ceiling (never above the actor's own
    role here), the lifetime (the tenant's `invite_ttl_hours` by default, `invite_max_ttl_hours` at most), the daily
    limit."""
    with FieldErrors() as errors:
        kind = errors.collect(validated, "kind", check_invite_kind, str(kind))
        role = errors.collect(validated, "role", check_invite_role, str(role) if role is not None else role)
        email = errors.collect(validated, "email", check_invite_email, email or None, optional=True)
        ttl = tenant.invite_ttl_hours if ttl_hours is None else errors.collect(
            validated, "ttl_hours", check_ttl_hours, ttl_hours)
        if ttl is not None and ttl > tenant.invite_max_ttl_hours:
            errors.refuse("ttl_hours", _l("An invite lasts at most %(hours)d hours here.",
                                          hours=tenant.invite_max_ttl_hours))
        if kind == InviteKind.LINK:
            max_uses = errors.collect(validated, "max_uses", check_max_uses, max_uses)
            email_domain = errors.collect(validated, "email_domain", check_email_domain, email_domain or None,
                                          optional=True)
            if email is not None:
                errors.refuse("email", _l("A shareable link is not for one address; limit it to a domain instead."))
        else:
            if max_uses != 1:
                errors.refuse("max_uses", _l("A personal invite admits one person."))
            if email_domain or needs_approval:
                errors.refuse("email_domain" if email_domain else "needs_approval",
                              _l("Only a shareable link has a domain or waits for approval."))
    role, kind = Role(role), InviteKind(kind)
    _check_role_ceiling(actor, tenant, role)
    _take_quota(actor, tenant, now)
    code, digest, hint = codes.new_code()
    invite = Invite(tenant_id=tenant.id, inviter_id=actor.user.id, email=email, role=role, kind=kind, digest=digest,
                    hint=hint, max_uses=max_uses if kind == InviteKind.LINK else 1, uses=0,
                    email_domain=email_domain if kind == InviteKind.LINK else None,
                    needs_approval=bool(needs_approval) and kind == InviteKind.LINK, ttl_hours=ttl,
                    expires_at=now + timedelta(hours=ttl), status=InviteStatus.PENDING)
    db.session.add(invite)
    db.session.flush()
    _audit("invite.created", actor, invite, email=email, max_uses=invite.max_uses, email_domain=invite.email_domain,
           needs_approval=invite.needs_approval, expires_at=invite.expires_at.isoformat())
    return invite, code


# ---------------------------------------------------------------- joining


def _usable(invite: Invite | None, now: datetime) -> bool:
    return (invite is not None and invite.status == InviteStatus.PENDING and invite.expires_at > now
            and invite.uses < invite.max_uses)


def _find(raw_code) -> Invite | None:
    """The invite a code names, or None; a malformed code or a wrong checksum costs no query."""
    if not codes.well_formed(raw_code):
        return None
    return db.session.scalar(select(Invite).where(Invite.digest == codes.digest_of(raw_code))
                             .execution_options(all_tenants=True))


def validate(raw_code, now: datetime) -> Invite | None:
    """The invite a code names while it can still be accepted, else None (malformed, unknown, expired, revoked,
    used: one answer). Changes nothing: opening a link never consumes it."""
    invite = _find(raw_code)
    return invite if _usable(invite, now) else None


def _summary_query():
    """The facts a public validation needs, by digest, with the tenant's name joined in: one indexed row."""
    invite, tenant = Invite.__table__, Tenant.__table__
    return (
        select(invite.c.role, invite.c.status, invite.c.expires_at, invite.c.uses, invite.c.max_uses,
               tenant.c.name.label("tenant_name"))
        .join_from(invite, tenant, tenant.c.id == invite.c.tenant_id)
        .where(invite.c.digest == bindparam("digest"), invite.c.deleted_at.is_(None), tenant.c.deleted_at.is_(None))
    )


#: run on the driver's cursor (app.core.db.DirectRead), as the bearer check's read: the public validation is one
#: statement on a hot path, and the ORM's object loading would cost more than the query (docs/performance.md)
_SUMMARY_READ = DirectRead(_summary_query())


def validate_summary(raw_code, now: datetime) -> tuple[Role, str] | None:
    """(role, tenant name) of the invite a code names while it can still be accepted, else None: the same verdict
    as `validate`, for the public check. A malformed code or a wrong checksum costs no query; a well-formed one
    one indexed SELECT outside the session (no ORM objects, no transaction to end). Changes nothing."""
    if not codes.well_formed(raw_code):
        return None
    params = {"digest": codes.digest_of(raw_code)}
    engine = db.engine
    row = once_more_if_dropped(lambda: _SUMMARY_READ.first(engine, params))
    if (row is None or row.status != InviteStatus.PENDING or row.expires_at <= now
            or row.uses >= row.max_uses):
        return None
    return Role(row.role), row.tenant_name


def _membership_of(tenant_id: int, user_id: int) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.tenant_id == tenant_id,
                                                      Membership.user_id == user_id)
                             .execution_options(all_tenants=True, include_deleted=True))


def _grant(invite: Invite, user: User, existing: Membership | None, now: datetime,
           actor: Actor | None) -> Membership:
    """The membership an accepted (or approved) invite gives: new, or a removed one restored with the invite's
    role (a block of that membership stays: an admin lifts it)."""
    if existing is None:
        membership = Membership(tenant_id=invite.tenant_id, user_id=user.id, role=invite.role)
        try:  # two invites of one tenant accepted by one person at once: the unique (tenant, user) decides
            with db.session.begin_nested():
                db.session.add(membership)
        except IntegrityError as error:
            raise AlreadyMember() from error
        action = "membership.created"
    else:
        existing.restore()
        existing.role = invite.role
        membership = existing
        action = "member.restored"
    db.session.flush()  # the database bumps the user's policy version (migration 0004)
    audit.record(action, tenant_id=invite.tenant_id, target_type="user", target_id=user.id,
                 details={"role": str(invite.role), "invite_id": invite.id},
                 **(actor.meta() if actor else {"actor_id": user.id}))
    return membership


def check_may_join(invite: Invite, user: User) -> Membership | None:
    """Refuse `user` a usable invite that is not for them: another email, a link for another domain, a live member
    already; returns their removed membership, if any (a join restores it). Changes nothing."""
    address = email_key(user.email)
    if invite.email is not None and invite.email != address:
        raise InviteForAnotherEmail()
    if invite.email_domain is not None and address.rpartition("@")[2] != invite.email_domain:
        raise InviteDomainRefused(str(_l("This link is only for email addresses at %(domain)s.",
                                         domain=invite.email_domain)))
    existing = _membership_of(invite.tenant_id, user.id)
    if existing is not None and existing.deleted_at is None:
        raise AlreadyMember()
    return existing


def accept(raw_code, user: User, now: datetime, *, meta: dict | None = None) -> Membership | None:
    """`user` joins by a code: returns the membership (status active), or None when the link holds joins for an
    admin's approval (the seat is taken; `approve` gives the membership).

    Every invalid code gets the one `InviteInvalid`; a code for another email, a link for another domain, a
    member already here or a second join by the same link are told apart (the person holds a valid code)."""
    invite = _find(raw_code)
    if not _usable(invite, now):
        raise InviteInvalid()
    existing = check_may_join(invite, user)
    # the seat first (one row, one conditional UPDATE): racing joins queue on the invite's row
    uses = db.session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.digest == invite.digest, Invite.status == InviteStatus.PENDING,
               Invite.uses < Invite.max_uses, Invite.expires_at > now, Invite.deleted_at.is_(None))
        .values(uses=Invite.uses + 1, updated_at=now,
                status=case((Invite.uses + 1 >= Invite.max_uses, InviteStatus.ACCEPTED.value),
                            else_=InviteStatus.PENDING.value),
                accepted_at=case((Invite.uses + 1 >= Invite.max_uses, now), else_=None))
        .returning(Invite.uses).execution_options(synchronize_session=False, all_tenants=True)).scalar_one_or_none()
    if uses is None:
        raise InviteInvalid()
    joined = db.session.execute(
        _insert()(InviteUse).values(tenant_id=invite.tenant_id, invite_id=invite.id, user_id=user.id,
                                    approved_at=None if invite.needs_approval else now,
                                    created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["invite_id", "user_id"]).returning(InviteUse.id)).scalar_one_or_none()
    if joined is None:
        raise AlreadyJoined()
    db.session.expire(invite)
    said = {"hint": invite.hint, "role": str(invite.role), "user_id": user.id, "uses": uses}
    if invite.needs_approval:
        audit.record("invite.join_requested", tenant_id=invite.tenant_id, target_type="invite", target_id=invite.id,
                     details=said, actor_id=user.id, **(meta or {}))
        return None
    membership = _grant(invite, user, existing, now, None)
    db.session.execute(update(InviteUse).where(InviteUse.id == joined).values(membership_id=membership.id)
                       .execution_options(synchronize_session=False, all_tenants=True))
    audit.record("invite.accepted", tenant_id=invite.tenant_id, target_type="invite", target_id=invite.id,
                 details=said, actor_id=user.id, **(meta or {}))
    return membership


# ---------------------------------------------------------------- approval (links that hold joins)


def waiting(tenant: Tenant) -> list[InviteUse]:
    """Joins by a link that wait for an admin's approval, oldest first."""
    return list(db.session.scalars(
        select(InviteUse).where(InviteUse.tenant_id == tenant.id, InviteUse.approved_at.is_(None))
        .order_by(InviteUse.created_at, InviteUse.id)))


def _waiting_use(tenant: Tenant, use_id: int) -> InviteUse:
    use = db.session.scalar(select(InviteUse).where(InviteUse.id == use_id, InviteUse.tenant_id == tenant.id)
                            .with_for_update().execution_options(populate_existing=True))
    if use is None:
        raise NotFound(str(_l("No such request to join.")))
    if use.approved_at is not None:
        raise Conflict(str(_l("This request to join was approved already.")))
    return use


def approve(actor: Actor, tenant: Tenant, use_id: int, *, now: datetime) -> Membership:
    """Give the membership a link's join waits for (the route checks `invites.revoke`; the ceiling: the role the
    link grants is at most the approver's)."""
    use = _waiting_use(tenant, use_id)
    _check_role_ceiling(actor, tenant, use.invite.role)
    if use.invite.status == InviteStatus.REVOKED:  # revoking a link stops the joins it still holds too
        raise Conflict(str(_l("The link %(hint)s was revoked, so the joins it holds can only be declined.",
                              hint=use.invite.hint)))
    existing = _membership_of(tenant.id, use.user_id)
    if existing is not None and existing.deleted_at is None:
        raise Conflict(str(_l("%(email)s is a member already.", email=use.user.email)))
    membership = _grant(use.invite, use.user, existing, now, actor)
    use.approved_at, use.membership_id = now, membership.id
    db.session.flush()
    _audit("invite.join_approved", actor, use.invite, user_id=use.user_id)
    return membership


def decline(actor: Actor, tenant: Tenant, use_id: int, *, now: datetime) -> InviteUse:
    """Refuse a link's waiting join: no membership; the seat stays taken (a link is not reopened by a refusal)."""
    use = _waiting_use(tenant, use_id)
    use.deleted_at = now
    db.session.flush()
    _audit("invite.join_declined", actor, use.invite, user_id=use.user_id)
    return use


# ---------------------------------------------------------------- managing


def revoke(actor: Actor, tenant: Tenant, invite_id: int, *, now: datetime) -> Invite:
    """Stop a pending invite at once (the route checks `invites.revoke`; nobody revokes an invite to a role above
    their own)."""
    invite = _invite_of(tenant, invite_id, lock=True)
    _check_role_ceiling(actor, tenant, invite.role)
    if invite.status != InviteStatus.PENDING:
        raise InviteNotPending()
    invite.status, invite.revoked_at, invite.revoked_by_id = InviteStatus.REVOKED, now, actor.user.id
    db.session.flush()
    _audit("invite.revoked", actor, invite)
    return invite


def _reissue(actor: Actor, tenant: Tenant, invite: Invite, now: datetime) -> str:
    """A fresh code in place of the old one (whose digest is gone, so it fails at once), the same lifetime again
    (at most the tenant's current maximum), counted against the actor's daily limit."""
    _check_role_ceiling(actor, tenant, invite.role)
    _take_quota(actor, tenant, now)
    code, digest, hint = codes.new_code()
    ttl = min(invite.ttl_hours, tenant.invite_max_ttl_hours)
    invite.digest, invite.hint, invite.ttl_hours = digest, hint, ttl
    invite.expires_at, invite.status = now + timedelta(hours=ttl), InviteStatus.PENDING
    db.session.flush()
    return code


def resend(actor: Actor, tenant: Tenant, invite_id: int, *, now: datetime) -> tuple[Invite, str]:
    """A pending invite's fresh code (to send again): the old code stops working at once."""
    invite = _invite_of(tenant, invite_id, lock=True)
    if invite.status != InviteStatus.PENDING or invite.expires_at <= now:
        raise InviteNotPending(str(_l("Only a pending invite can be resent; renew an expired one.")))
    old_hint = invite.hint
    code = _reissue(actor, tenant, invite, now)
    _audit("invite.resent", actor, invite, old_hint=old_hint)
    return invite, code


def renew(actor: Actor, tenant: Tenant, invite_id: int, *, now: datetime) -> tuple[Invite, str]:
    """An expired invite made pending again, with a fresh code and a new lifetime."""
    invite = _invite_of(tenant, invite_id, lock=True)
    expired = invite.status == InviteStatus.EXPIRED or (
        invite.status == InviteStatus.PENDING and invite.expires_at <= now)
    if not expired:
        raise InviteNotPending(str(_l("Only an expired invite can be renewed.")))
    old_hint = invite.hint
    code = _reissue(actor, tenant, invite, now)
    _audit("invite.renewed", actor, invite, old_hint=old_hint)
    return invite, code


def expire_due(now: datetime) -> int:
    """Mark every pending invite past its time as expired (the scheduled job; every tenant); returns how many.
    Validation never depended on it: an invite past its time is refused whether marked or not."""
    rows = db.session.execute(
        update(Invite).where(Invite.status == InviteStatus.PENDING, Invite.expires_at <= now)
        .values(status=InviteStatus.EXPIRED, updated_at=now)
        .returning(Invite.id, Invite.tenant_id, Invite.hint)
        .execution_options(synchronize_session=False, all_tenants=True)).all()
    for invite_id, tenant_id, hint in rows:
        audit.record("invite.expired", tenant_id=tenant_id, target_type="invite", target_id=invite_id,
                     details={"hint": hint})
    return len(rows)


def inviters(tenant: Tenant) -> list[tuple[int, str]]:
    """(id, email) of everyone who made an invite of the tenant (the list's "invited by" choices), by email."""
    return list(db.session.execute(
        select(User.id, User.email).where(User.id.in_(select(Invite.inviter_id).where(Invite.tenant_id == tenant.id)))
        .order_by(User.email)).tuples())


def list_invites(tenant: Tenant, *, status: str | None = None, inviter_id: int | None = None,
                 role: str | None = None, kind: str | None = None, q: str | None = None, page: int = 1,
                 per_page: int = PER_PAGE, clamp: bool = False) -> Page:
    """A page of the tenant's invites, newest first; `q` matches the email, the domain or the code's hint."""
    statement = select(Invite).where(Invite.tenant_id == tenant.id)
    if status is not None:
        statement = statement.where(Invite.status == validated("status", check_invite_status, status))
    if role is not None:
        statement = statement.where(Invite.role == validated("role", check_invite_role, role))
    if kind is not None:
        statement = statement.where(Invite.kind == validated("kind", check_invite_kind, kind))
    if inviter_id is not None:
        statement = statement.where(Invite.inviter_id == inviter_id)
    if q:
        statement = statement.where(or_(contains_text(Invite.email, q), contains_text(Invite.email_domain, q),
                                        contains_text(Invite.hint, q)))
    return page_of(statement.order_by(Invite.created_at.desc(), Invite.id.desc()), page, per_page, clamp=clamp)
