"""The verifier of API tokens (registered with `app.api.auth`, which does the request's side): checksum first
(no query for a malformed token), then one indexed lookup, then expiry, revocation, owner, tenant, IP rules,
device, rate limit; then scope and permission for each route."""

from __future__ import annotations

import ipaddress
import time
from datetime import datetime, timedelta
from functools import cached_property, lru_cache

from flask import request
from flask_babel import lazy_gettext as _l
from limits import parse as parse_limit
from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.exc import NoResultFound

from app.api.auth import Scope, Verifier, register_verifier
from app.core import tokencodec
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.db import DirectRead, once_more_if_dropped
from app.core.errors import DomainError, Forbidden
from app.core.fields import normalise_network
from app.core.mixins import utcnow
from app.core.net import user_agent
from app.core.ratelimit import limiter
from app.core.security import request_id
from app.core.web import request_actor
from app.extensions import db
from app.permissions.models import PolicyVersion
from app.permissions.policy import Policy
from app.permissions.resolver import RESOLVE_SECONDS, load_policy, subject_of
from app.tenants.models import Tenant
from app.tokens import SCOPE_RIGHTS, usage
from app.tokens.models import ApiToken
from app.tokens.services import TOKEN_KIND, revoke_chain
from app.users.models import User, UserStatus

LAST_USED_EVERY = timedelta(minutes=1)


class InvalidToken(DomainError):
    code, status, title = "invalid_token", 401, _l("The token is missing, malformed or unknown.")


class TokenExpired(DomainError):
    code, status, title = "token_expired", 401, _l("The token has expired.")


class TokenRevoked(DomainError):
    code, status, title = "token_revoked", 401, _l("The token has been revoked.")


class OwnerInactive(DomainError):
    code, status, title = "owner_inactive", 401, _l("The token's owner can no longer use it.")


class IpDenied(DomainError):
    code, status, title = "ip_denied", 403, _l("The token may not be used from this address.")


class DeviceMismatch(DomainError):
    code, status, title = "device_mismatch", 403, _l("The token is bound to another client.")


class InsufficientScope(DomainError):
    code, status, title = "insufficient_scope", 403, _l("The token's scope does not cover this request.")


class TokenRateLimited(DomainError):
    code, status, title = "rate_limited", 429, _l("The token's rate limit is reached. Retry later.")


class TokenBearer:
    """An authenticated API request: the token's row (`credential`), its owner's policy in the token's tenant.

    The check reads one row of plain values, not ORM objects (the ORM's object loading cost more than the
    query itself); the views that change something load the objects they need, once, through `token`,
    `owner` and `tenant`."""

    def __init__(self, credential: Credential, policy: Policy, wrote: bool = False) -> None:
        self.credential = credential
        self.policy = policy
        #: authentication wrote to the token (the first device binding, the last use); committed before the view
        self.wrote = wrote
        self._actor: Actor | None = None

    @cached_property
    def token(self) -> ApiToken:
        return db.session.get(ApiToken, self.credential.id)

    @cached_property
    def owner(self) -> User:
        return db.session.get(User, self.credential.user_id)

    @cached_property
    def tenant(self) -> Tenant:
        return db.session.get(Tenant, self.credential.tenant_id)

    def actor(self) -> Actor:
        """The owner acting through this token (with its scope, which caps what it may create or rotate)."""
        if self._actor is None:
            self._actor = request_actor(self.owner, scope=self.credential.scope.value)
        return self._actor


def _refuse(error: DomainError, token: Credential | None = None) -> DomainError:
    error.credential = token  # the API logs the refused use against the token it was for
    return error


@lru_cache(maxsize=4096)
def _network(cidr: str):
    """A stored IP rule as a network, parsed once per process. IPv4-mapped ones (`::ffff:10.0.0.0/104`, stored
    before the IP rules check normalised them) become their IPv4 network, as the request's address does."""
    return normalise_network(ipaddress.ip_network(cidr, strict=False))


def _ip_allowed(token: Credential, ip: str) -> bool:
    if not token.ip_allow and not token.ip_deny:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client seen through a dual-stack socket or proxy
    if any(address in _network(cidr) for cidr in token.ip_deny):
        return False  # deny wins
    return not token.ip_allow or any(address in _network(cidr) for cidr in token.ip_allow)


def _bind_device(token: Credential, device_id: str) -> bool:
    """True when `device_id` is the token's client (binding it atomically at first use)."""
    if not device_id:
        return False
    digest = crypto().digest("device:" + device_id)
    bound = token.device_digest
    if bound is None:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id, ApiToken.device_digest.is_(None))
                           .values(device_digest=digest).execution_options(synchronize_session=False))
        # whoever won the first use decides
        bound = db.session.scalar(select(ApiToken.device_digest).where(ApiToken.id == token.id))
    return bound == digest


def _within_rate_limit(token: Credential) -> tuple[bool, int]:
    if not token.rate_limit:
        return True, 0
    item = parse_limit(f"{token.rate_limit}/minute")
    strategy = limiter.limiter
    if strategy.hit(item, "token", str(token.chain_id or token.id)):
        return True, 0
    reset_at, _remaining = strategy.get_window_stats(item, "token", str(token.chain_id or token.id))
    return False, max(1, int(reset_at - time.time()))


def _touch(token: Credential, now: datetime, ip: str) -> bool:
    # At most once a minute per token, and the WHERE makes concurrent requests write it once.
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return False
    db.session.execute(
        update(ApiToken).where(ApiToken.id == token.id,
                               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY))
        .values(last_used_at=now, last_used_ip=ip).execution_options(synchronize_session=False)
    )
    return True


def _credential_query() -> Select:
    """The token (by digest) and its owner's policy version, as one row of plain values; digest bound at
    execution. Neither the digest nor the encrypted last IP is read back.

    Everything else about the owner (status, lock, deletion, role, rules, name and address) and the tenant
    (deletion, name) is in the owner's compiled policy, which is current exactly when its version is: the
    application bumps the version on rule changes, the database on the rest (migration 0004). So one indexed
    row read per request keeps the check as fresh as joining those tables would, at the cost of the floor's
    query rather than a five-table join."""
    token, versions = ApiToken.__table__, PolicyVersion.__table__
    version = select(versions.c.version).where(versions.c.user_id == token.c.user_id).scalar_subquery()
    return (
        select(*(token.c[name] for name in CREDENTIAL_COLUMNS), version.label("policy_version"))
        .where(token.c.digest == bindparam("digest"), token.c.deleted_at.is_(None))
    )


#: what the bearer check and /me read of the token itself
CREDENTIAL_COLUMNS = ("id", "tenant_id", "user_id", "name", "scope", "hint", "created_at", "expires_at",
                      "revoked_at", "revoke_reason", "last_used_at", "rate_limit", "ip_allow", "ip_deny",
                      "device_binding", "device_digest", "chain_id", "successor_id", "grace_until")

#: the credential read, run on the driver's cursor: the one statement of every API request (app.core.db)
_CREDENTIAL_READ = DirectRead(_credential_query())
#: a credential as read: a named tuple of those columns and `policy_version`
Credential = _CREDENTIAL_READ.row


def find_credential(secret: str):
    """The credential row of a well-formed secret (a named tuple of `CREDENTIAL_COLUMNS` and `policy_version`),
    or None.

    Read on a pooled connection of its own, outside the ORM session: no ORM objects, no session transaction to
    commit for a request that only reads (most API calls), and no tenant guard, which has no tenant yet: the
    row decides it. One statement needs no transaction of its own either, so on PostgreSQL the connection is in
    autocommit: no BEGIN and ROLLBACK round trips around the SELECT. What the check then writes (last use,
    device binding, a chain revoked) goes through the session, in the request's transaction."""
    params = {"digest": crypto().digest(secret)}
    engine = db.engine
    # a connection that died in the pool costs no refusal: read once more on a fresh one
    return once_more_if_dropped(lambda: _CREDENTIAL_READ.first(engine, params))


class RetiredSecretUsed(TokenRevoked):
    """A rotated secret used after its grace period: treated as leaked."""


def standing(token: Credential, now: datetime) -> Policy:
    """The owner's policy when `token` (a credential row) may be used now; raises the refusal otherwise.

    Everything about the token and its owner that does not depend on the request (revocation, expiry, a retired
    secret, the owner's and tenant's state, membership). Free of side effects, so introspection gives the same
    verdict as a use of the token without acting on it."""
    if token.revoked_at is not None:
        raise _refuse(TokenRevoked(), token)
    if token.expires_at is not None and token.expires_at <= now:
        raise _refuse(TokenExpired(), token)
    if token.successor_id is not None and (token.grace_until is None or token.grace_until <= now):
        raise _refuse(RetiredSecretUsed(str(_l("A retired secret was used; every token of its chain is revoked."))),
                      token)
    try:
        policy = load_policy(token.user_id, token.tenant_id, version=token.policy_version or 0)
        owner = subject_of(policy)
    except NoResultFound:  # the owner is deleted
        raise _refuse(InvalidToken()) from None
    if owner.tenant_slug is None:  # the tenant is deleted
        raise _refuse(InvalidToken())
    # A temporary sign-in lock (failed passwords) does not stop the owner's tokens: anyone who knows an address can
    # cause one, and it must not switch off its owner's scripts. Blocking does.
    if policy.status != UserStatus.ACTIVE:
        raise _refuse(OwnerInactive(), token)
    if policy.role is None and not policy.is_operator:
        raise _refuse(OwnerInactive(str(_l("The owner is no longer a member of the tenant."))), token)
    return policy


def authenticate(secret: str, *, ip: str, device_id: str, now: datetime | None = None) -> TokenBearer:
    """Check a bearer secret; raises a DomainError (with `.credential` when one was found) on refusal.

    Refusals that change state (the chain revoked after a retired secret was used) are flushed; the
    caller renders the refusal without rolling back, so they are kept.
    """
    if not tokencodec.well_formed(secret, TOKEN_KIND):
        raise _refuse(InvalidToken())
    now = now or utcnow()
    token = find_credential(secret)
    if token is None:
        raise _refuse(InvalidToken())
    try:
        policy = standing(token, now)
    except RetiredSecretUsed:
        revoke_chain(token, reason="retired secret used after its grace period")
        raise
    if not _ip_allowed(token, ip):
        raise _refuse(IpDenied(), token)
    binds = token.device_binding and token.device_digest is None
    if token.device_binding and not _bind_device(token, device_id):
        raise _refuse(DeviceMismatch(), token)
    ok, retry_after = _within_rate_limit(token)
    if not ok:
        error = TokenRateLimited()
        error.retry_after = retry_after
        raise _refuse(error, token)
    touched = _touch(token, now, ip)
    return TokenBearer(token, policy, wrote=binds or touched)


def usable_scope(token: Credential, policy: Policy) -> Scope | None:
    """The highest scope a use of the token is granted: its own scope, capped by what its owner may use now."""
    for scope in (Scope.ADMIN, Scope.WRITE, Scope.READ):
        if token.scope.covers(scope) and policy.allows(SCOPE_RIGHTS[scope]):
            return scope
    return None


def introspect(secret: str, tenant_id: int, *,
               now: datetime | None = None) -> tuple[Credential, Policy, Scope] | None:
    """RFC 7662's question for a token of `tenant_id`: its row, its owner's policy and the scope a use of it is
    granted, when it is active; None otherwise. The same verdict as using it (`standing`), minus what depends on
    the caller (address, device, rate), and without its side effects (a retired secret revokes nothing here)."""
    if not tokencodec.well_formed(secret, TOKEN_KIND):
        return None
    token = find_credential(secret)
    if token is None or token.tenant_id != tenant_id:
        return None
    try:
        policy = standing(token, now or utcnow())
    except DomainError:
        return None
    scope = usable_scope(token, policy)
    return (token, policy, scope) if scope is not None else None


def record_use(credential: Credential, outcome: str, status: int, ip: str) -> None:
    """Log one use (or refused use) of a token: buffered, written off the request path (app.tokens.usage)."""
    usage.record(token_id=credential.id, tenant_id=credential.tenant_id,
                 endpoint=f"{request.method} {request.path}"[:128], outcome=outcome, status=status,
                 correlation_id=request_id(), ip=ip, user_agent=user_agent())


def authorize(bearer: TokenBearer, scope: Scope, permission: str | None) -> DomainError | None:
    """The refusal of a route needing `scope` and `permission`, or None. The owner's rights bound the token's:
    the token's scope must cover the route's, its owner must still hold that scope (`api.<scope>`), and the
    route's action; all from the owner's cached policy. `allows()` on the way in; the reason (translated, the
    costly part) only for a refusal."""
    started = time.perf_counter()
    refusal = None
    if not bearer.credential.scope.covers(scope) or not bearer.policy.allows(SCOPE_RIGHTS[scope]):
        refusal = InsufficientScope(str(_l("This needs the %(scope)s scope.", scope=scope.value)))
    elif permission is not None and not bearer.policy.allows(permission):
        refusal = Forbidden(bearer.policy.decide(permission).reason)
    RESOLVE_SECONDS.observe(time.perf_counter() - started)
    return refusal


register_verifier(Verifier(authenticate=authenticate, authorize=authorize, record_use=record_use))
