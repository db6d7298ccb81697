"""Token rules: issue, list, revoke, rotate, limit; the tenant's token policy; expiry sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update

from app import audit
from app.core import tokencodec
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.fieldadapters import FieldErrors, validated
from app.core.fields import MAX_CIDRS as MAX_CIDRS  # re-exported: the limit of a token's IP rules
from app.core.fields import check_cidrs, check_optional_reason
from app.core.mixins import utcnow
from app.core.paging import Page, contains_text, page_of
from app.extensions import db
from app.permissions.ceiling import check_may_act_on
from app.tenants.models import Tenant
from app.tokens import expiry
from app.tokens.ceiling import NotOwnerError, check_scope_ceiling, may_rotate
from app.tokens.models import NAME_MAX as NAME_MAX  # re-exported, as is every token status (the filters')
from app.tokens.models import STATUSES as STATUSES
from app.tokens.models import (
    ApiToken,
    Scope,
    TokenPolicy,
    TokenUsageLog,
    check_grace_minutes,
    check_max_days,
    check_rate_limit,
    check_token_name,
)
from app.tokens.reports import daily_usage
from app.users.models import User

TOKEN_KIND = "p"  # noqa: S105 (the token kind letter, not a secret)
tokencodec.register_kind(TOKEN_KIND, "personal API token")


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret; the secret exists only here and is shown once."""

    token: ApiToken
    secret: str


def token_policy(tenant_id: int) -> TokenPolicy:
    """The tenant's token policy (defaults when it never changed it)."""
    policy = db.session.get(TokenPolicy, tenant_id)
    if policy is None:
        policy = TokenPolicy(tenant_id=tenant_id, default_days=TokenPolicy.DEFAULT_DAYS,
                             max_days=TokenPolicy.MAX_DAYS, allow_no_expiry=False,
                             rotation_grace_minutes=TokenPolicy.GRACE_MINUTES)
    return policy


def update_token_policy(actor: Actor, tenant: Tenant, *, default_days: int, max_days: int,
                        allow_no_expiry: bool, rotation_grace_minutes: int) -> TokenPolicy:
    """Change the tenant's token policy (existing tokens keep their expiry); every refused field at once."""
    with FieldErrors() as errors:
        longest = errors.collect(validated, "max_days", check_max_days, max_days)
        errors.collect(validated, "default_days", expiry.check_default_days, default_days, longest)
        errors.collect(validated, "rotation_grace_minutes", check_grace_minutes, rotation_grace_minutes)
    policy = token_policy(tenant.id)
    before = {k: getattr(policy, k) for k in ("default_days", "max_days", "allow_no_expiry", "rotation_grace_minutes")}
    policy.default_days, policy.max_days = default_days, max_days
    policy.allow_no_expiry, policy.rotation_grace_minutes = allow_no_expiry, rotation_grace_minutes
    db.session.add(policy)
    db.session.flush()
    after = {k: getattr(policy, k) for k in before}
    if after != before:
        audit.record("token.policy_changed", tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                     details={"before": before, "after": after}, **actor.meta())
    return policy


def parse_cidrs(values: list[str] | str | None, field: str) -> list[str]:
    """Normalised CIDRs (IPv4 and IPv6) from a list or a text: the one IP rules check (app.core.fields)."""
    return validated(field, check_cidrs, values)


def _expiry(tenant: Tenant, expires_in_days: int | None, no_expiry: bool, now: datetime,
            expires_on: date | str | None = None) -> datetime | None:
    policy = token_policy(tenant.id)
    if no_expiry:
        if not policy.allow_no_expiry:
            # 409: the request is well formed; the tenant's policy (state, not the input) refuses it
            raise Conflict(str(_l("This tenant requires tokens to expire.")), field="expires_in_days")
        return None
    if expires_on is not None:  # a day of one's own, in the tenant's time zone
        today = expiry.local_today(now, tenant.timezone)
        return now + timedelta(days=validated("expires_on", expiry.check_expiry_date, expires_on, today,
                                              policy.max_days))
    days = policy.default_days if expires_in_days is None else expires_in_days
    if not 1 <= days <= policy.max_days:
        raise ValidationFailed(str(_l("Choose 1 to %(max)d days.", max=policy.max_days)), field="expires_in_days")
    return now + timedelta(days=days)


def _check_rate_limit(value: int | None) -> int | None:
    return validated("rate_limit", check_rate_limit, value, optional=True)


def _scope(value: str) -> Scope:
    try:
        return Scope(value)
    except ValueError as exc:
        raise ValidationFailed(str(_l("Choose read, write or admin.")), field="scope") from exc


def _new_secret() -> tuple[str, str]:
    secret = tokencodec.generate(TOKEN_KIND)
    return secret, crypto().digest(secret)


def create_token(actor: Actor | None, tenant: Tenant, owner: User, *, name: str, scope: str,
                 expires_in_days: int | None = None, no_expiry: bool = False, rate_limit: int | None = None,
                 ip_allow: list[str] | str | None = None, ip_deny: list[str] | str | None = None,
                 device_binding: bool = False, expires_on: date | str | None = None) -> IssuedToken:
    """Issue a token for `owner` in `tenant`; never with a scope the owner may not use. Its lifetime is
    `expires_in_days` (the policy's default when None), the day `expires_on` (in the tenant's time zone), or
    none with `no_expiry`. Every refused field is said at once (422); then the refusals that hold whatever was
    typed: the ceiling (403), the policy (409)."""
    now = utcnow()
    with FieldErrors() as errors:
        name = errors.collect(validated, "name", check_token_name, name)
        wanted = errors.collect(_scope, scope)
        expires_at = errors.collect(_expiry, tenant, expires_in_days, no_expiry, now, expires_on)
        rate_limit = errors.collect(_check_rate_limit, rate_limit)
        ip_allow = errors.collect(parse_cidrs, ip_allow, "ip_allow")
        ip_deny = errors.collect(parse_cidrs, ip_deny, "ip_deny")
    if actor is not None:
        check_may_act_on(actor, tenant.id, owner.id)
    check_scope_ceiling(actor, tenant, owner, wanted)
    secret, digest = _new_secret()
    token = ApiToken(
        tenant_id=tenant.id, user_id=owner.id, name=name, scope=wanted, digest=digest,
        hint=tokencodec.hint(secret), expires_at=expires_at, rate_limit=rate_limit, ip_allow=ip_allow,
        ip_deny=ip_deny, device_binding=device_binding, created_by_id=actor.user.id if actor else None,
    )
    db.session.add(token)
    db.session.flush()
    token.chain_id = token.id
    audit.record("token.created", tenant_id=tenant.id, target_type="token", target_id=token.id,
                 details={"owner_id": owner.id, "name": name, "scope": wanted.value, "hint": token.hint,
                          "expires_at": token.expires_at.isoformat() if token.expires_at else None},
                 **(actor.meta() if actor else {}))
    return IssuedToken(token, secret)


def get_token(tenant: Tenant, token_id: int, *, viewer: User | None = None, manage: bool = False) -> ApiToken:
    """A token of this tenant; without `manage`, only the viewer's own. 404 otherwise."""
    # The join hides tokens of a deleted owner, as list_tokens does (they can no longer be used either).
    token = db.session.scalar(select(ApiToken).join(User, User.id == ApiToken.user_id)
                              .where(ApiToken.id == token_id, ApiToken.tenant_id == tenant.id))
    if token is None or (not manage and viewer is not None and token.user_id != viewer.id):
        raise NotFound()
    return token


def revoke_token(actor: Actor | None, token: ApiToken, *, reason: str) -> ApiToken:
    """Revoke now, with every other token of its rotation chain (an older secret still in its grace period
    included): a person who revokes one secret of a chain means all of them. Idempotent (a revoked token stays
    revoked with its first reason). Only on one's own tokens or those of someone ranking no higher."""
    if actor is not None:
        check_may_act_on(actor, token.tenant_id, token.user_id)
    # optional: left empty it is "manual"; given, it is checked as every reason is (app.core.fields)
    reason = validated("reason", check_optional_reason, reason) or "manual"
    live = db.session.scalars(
        select(ApiToken).where(ApiToken.tenant_id == token.tenant_id,
                               ApiToken.chain_id == (token.chain_id or token.id), ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    ).all()
    if token.revoked_at is None and token not in live:
        live.append(token)  # a token created before chains were kept (chain_id NULL)
    if not live:
        return token
    now = utcnow()
    for link in live:
        link.revoked_at, link.revoke_reason = now, reason
        link.revoked_by_id = actor.user.id if actor else None
    db.session.flush()
    audit.record("token.revoked", tenant_id=token.tenant_id, target_type="token", target_id=token.id,
                 details={"reason": reason, "hint": token.hint,
                          "chain_revoked": [link.id for link in live if link.id != token.id]},
                 **(actor.meta() if actor else {}))
    return token


def rotate_token(actor: Actor | None, token: ApiToken) -> IssuedToken:
    """Issue a successor with the same settings; the old secret works for the tenant's grace period.

    Rotation mints a secret, so only the owner may rotate (an admin may revoke someone else's token instead),
    and never above the ceiling: a token acting may rotate only tokens whose scope it covers."""
    if actor is not None:
        if not may_rotate(actor, token):
            raise NotOwnerError(str(_l("Only its owner can rotate a token. Revoke it instead; its owner can "
                                       "create a new one.")), field="token")
        check_scope_ceiling(actor, token.tenant, token.user, token.scope)
    now = utcnow()
    if token.status(now) != "active":
        raise Conflict(str(_l("Only an active token can be rotated.")), field="token")
    grace = timedelta(minutes=token_policy(token.tenant_id).rotation_grace_minutes)
    secret, digest = _new_secret()
    successor = ApiToken(
        tenant_id=token.tenant_id, user_id=token.user_id, name=token.name, scope=token.scope, digest=digest,
        hint=tokencodec.hint(secret), expires_at=token.expires_at, rate_limit=token.rate_limit,
        ip_allow=list(token.ip_allow), ip_deny=list(token.ip_deny), device_binding=token.device_binding,
        device_digest=token.device_digest, chain_id=token.chain_id or token.id,
        created_by_id=actor.user.id if actor else None,
    )
    db.session.add(successor)
    db.session.flush()
    # Only one rotation of a token can win: the UPDATE matches only while it has no successor.
    won = db.session.execute(
        update(ApiToken).where(ApiToken.id == token.id, ApiToken.successor_id.is_(None))
        .values(successor_id=successor.id, grace_until=now + grace)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise Conflict(str(_l("This token was rotated already.")), field="token")
    db.session.refresh(token)
    audit.record("token.rotated", tenant_id=token.tenant_id, target_type="token", target_id=token.id,
                 details={"successor_id": successor.id, "grace_until": token.grace_until.isoformat(),
                          "hint": successor.hint}, **(actor.meta() if actor else {}))
    return IssuedToken(successor, secret)


def revoke_chain(token: ApiToken, *, reason: str) -> int:
    """Revoke every token of `token`'s rotation chain (a retired secret was used: assume it leaked)."""
    now = utcnow()
    count = db.session.execute(
        update(ApiToken).where(ApiToken.chain_id == (token.chain_id or token.id), ApiToken.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason).execution_options(synchronize_session=False)
    ).rowcount
    audit.record("token.chain_revoked", tenant_id=token.tenant_id, target_type="token", target_id=token.id,
                 outcome="failure", details={"reason": reason, "chain_id": token.chain_id, "revoked": count})
    return count


def update_limits(actor: Actor, token: ApiToken, *, rate_limit: int | None, ip_allow, ip_deny,
                  device_binding: bool | None = None) -> ApiToken:
    """Change the per-token rate limit, IP rules and device binding (a live token of one's own, or of someone
    ranking no higher)."""
    check_may_act_on(actor, token.tenant_id, token.user_id)
    if token.status() not in LIVE_STATUSES:
        raise Conflict(str(_l("This token can no longer be used, so its limits cannot change.")))
    before = {"rate_limit": token.rate_limit, "ip_allow": token.ip_allow, "ip_deny": token.ip_deny,
              "device_binding": token.device_binding}
    with FieldErrors() as errors:  # every refused field at once
        rate_limit = errors.collect(_check_rate_limit, rate_limit)
        ip_allow = errors.collect(parse_cidrs, ip_allow, "ip_allow")
        ip_deny = errors.collect(parse_cidrs, ip_deny, "ip_deny")
    token.rate_limit, token.ip_allow, token.ip_deny = rate_limit, ip_allow, ip_deny
    if device_binding is not None:
        token.device_binding = device_binding
        if not device_binding:
            token.device_digest = None
    db.session.flush()
    after = {"rate_limit": token.rate_limit, "ip_allow": token.ip_allow, "ip_deny": token.ip_deny,
             "device_binding": token.device_binding}
    if after != before:
        audit.record("token.limits_changed", tenant_id=token.tenant_id, target_type="token", target_id=token.id,
                     details={"before": before, "after": after}, **actor.meta())
    return token


#: statuses in which a token still authenticates (its limits can still change)
LIVE_STATUSES = ("active", "rotated")


#: the orders a token list can be sorted in (`newest` first by default)
SORTS = {
    "newest": (ApiToken.id.desc(),),
    "oldest": (ApiToken.id.asc(),),
    "name": (func.lower(ApiToken.name), ApiToken.id.desc()),
    "expires": (ApiToken.expires_at.is_(None), ApiToken.expires_at.asc(), ApiToken.id.desc()),
    "last_used": (ApiToken.last_used_at.is_(None), ApiToken.last_used_at.desc(), ApiToken.id.desc()),
}


def list_tokens(tenant: Tenant, *, owner_id: int | None = None, status: str | None = None,
                scope: str | None = None, search: str | None = None, expiring_within_days: int | None = None,
                page: int = 1, per_page: int = 25, clamp: bool = False, sort: str = "newest",
                heads_only: bool = False) -> Page:
    """Tokens of the tenant, filtered, sorted (`SORTS`, newest first by default) and paginated (`clamp`: past
    the end, the last page). `heads_only`: a rotation chain is one entry, its newest token (the older ones are
    listed when the status asked for is `rotated` or `retired`, which only replaced tokens have)."""
    now = utcnow()
    query = select(ApiToken).join(User, User.id == ApiToken.user_id).where(ApiToken.tenant_id == tenant.id)
    if owner_id:
        query = query.where(ApiToken.user_id == owner_id)
    if scope in {s.value for s in Scope}:
        query = query.where(ApiToken.scope == Scope(scope))
    live = (ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
    if status == "active":
        query = query.where(*live, ApiToken.successor_id.is_(None))
    elif status == "rotated":  # replaced, its grace period still running (as token_status() says)
        query = query.where(*live, ApiToken.successor_id.is_not(None), ApiToken.grace_until > now)
    elif status == "retired":  # replaced, its grace period over
        query = query.where(*live, ApiToken.successor_id.is_not(None),
                            or_(ApiToken.grace_until.is_(None), ApiToken.grace_until <= now))
    elif status == "revoked":
        query = query.where(ApiToken.revoked_at.is_not(None))
    elif status == "expired":
        query = query.where(ApiToken.revoked_at.is_(None), ApiToken.expires_at <= now)
    if expiring_within_days:
        query = query.where(*live, ApiToken.expires_at <= now + timedelta(days=expiring_within_days))
    if heads_only and status not in ("rotated", "retired"):
        query = query.where(ApiToken.successor_id.is_(None))
    if search:
        text = search.strip()[:100]
        query = query.where(or_(contains_text(ApiToken.name, text), contains_text(User.email, text),
                                contains_text(ApiToken.hint, text)))
    return page_of(query.order_by(*SORTS.get(sort, SORTS["newest"])), page, per_page, clamp=clamp)


def usage_per_day(token: ApiToken, days: int = 30, *, today: date | None = None) -> list[tuple[date, int]]:
    """Authenticated uses per day (UTC days) for the last `days` days (oldest first, zero-filled); the token's
    page shows refusals and the tenant's days too (`reports.daily_usage`)."""
    return [(d.day, d.ok) for d in daily_usage(token, days, "UTC", today=today)]


def recent_usage(token: ApiToken, limit: int = 20) -> list[TokenUsageLog]:
    """The newest usage rows of a token."""
    return list(db.session.scalars(select(TokenUsageLog).where(TokenUsageLog.token_id == token.id)
                                   .order_by(TokenUsageLog.occurred_at.desc()).limit(limit)))


def revoke_expired(now: datetime | None = None) -> int:
    """Mark expired tokens revoked (reason `expired`), so lists and reports say so; returns how many."""
    now = now or utcnow()
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.revoked_at.is_(None), ApiToken.expires_at <= now)
        .execution_options(all_tenants=True)
    ).all()
    for token in tokens:
        revoke_token(None, token, reason="expired")
    return len(tokens)


def token_chain(token: ApiToken) -> list[ApiToken]:
    """Every token of `token`'s rotation chain, oldest first (the token alone when never rotated)."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.tenant_id == token.tenant_id,
                               ApiToken.chain_id == (token.chain_id or token.id)).order_by(ApiToken.id)
    ))


def token_summary(tenant: Tenant, *, owner_id: int | None = None, soon_days: int = 7) -> dict:
    """Dashboard figures: active tokens, live ones expiring within `soon_days`, and the last use of any."""
    now = utcnow()
    where = [ApiToken.tenant_id == tenant.id] + ([ApiToken.user_id == owner_id] if owner_id else [])
    live = (*where, ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
    count = select(func.count()).select_from(ApiToken)
    return {
        "active": db.session.scalar(count.where(*live, ApiToken.successor_id.is_(None))) or 0,
        "expiring": db.session.scalar(count.where(*live, ApiToken.expires_at <= now + timedelta(days=soon_days)))
        or 0,
        "last_used_at": db.session.scalar(select(func.max(ApiToken.last_used_at)).where(*where)),
    }
