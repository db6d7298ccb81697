"""Bearer authentication for /api/v1: checksum first (no query for a malformed token), then one indexed
lookup, then expiry, revocation, owner, tenant, IP rules, device, rate limit, scope and permission."""

from __future__ import annotations

import ipaddress
import time
from datetime import datetime, timedelta
from functools import cache as cache_once
from functools import cached_property, lru_cache, wraps

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from limits import parse as parse_limit
from sqlalchemy import Engine, Row, Select, bindparam, or_, select, update
from sqlalchemy.exc import NoResultFound

from app.api import check_body
from app.core import tokencodec
from app.core.crypto import crypto
from app.core.errors import DomainError, Forbidden, render_error
from app.core.fields import normalise_network
from app.core.mixins import utcnow
from app.core.models import Tenant, User, UserStatus
from app.core.net import client_ip, user_agent
from app.core.security import request_id
from app.core.tenancy import set_current_tenant
from app.extensions import db, limiter
from app.permissions.models import PolicyVersion
from app.permissions.policy import Policy
from app.permissions.resolver import RESOLVE_SECONDS, load_policy, subject_of
from app.tokens import usage
from app.tokens.models import ApiToken, Scope
from app.tokens.services import TOKEN_KIND, revoke_chain

DEVICE_HEADER = "X-Hubx-Device"
LAST_USED_EVERY = timedelta(minutes=1)


class InvalidToken(DomainError):
    code, status, title = "invalid_token", 401, _l("The token is missing, malformed or unknown.")


class MissingToken(InvalidToken):
    """No bearer credentials at all (no header, or another scheme): RFC 6750 wants no error code then."""


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


class Bearer:
    """An authenticated API request: the token's row (`credential`), its owner's policy in the token's tenant.

    The check reads one row of plain values, not ORM objects (the ORM's object loading cost more than the
    query itself); the views that change something load the objects they need, once, through `token`,
    `owner` and `tenant`."""

    def __init__(self, credential: Row, policy: Policy, wrote: bool = False) -> None:
        self.credential = credential
        self.policy = policy
        #: authentication wrote to the token (the first device binding, the last use); committed before the view
        self.wrote = wrote

    @cached_property
    def token(self) -> ApiToken:
        return db.session.get(ApiToken, self.credential.id)

    @cached_property
    def owner(self) -> User:
        return db.session.get(User, self.credential.user_id)

    @cached_property
    def tenant(self) -> Tenant:
        return db.session.get(Tenant, self.credential.tenant_id)


def _refuse(error: DomainError, token: Row | None = None) -> DomainError:
    error.token = token  # the caller logs the refused use against the token it was for
    return error


@lru_cache(maxsize=4096)
def _network(cidr: str):
    """A stored IP rule as a network, parsed once per process. IPv4-mapped ones (`::ffff:10.0.0.0/104`, stored
    before the IP rules check normalised them) become their IPv4 network, as the request's address does."""
    return normalise_network(ipaddress.ip_network(cidr, strict=False))


def _ip_allowed(token: Row, ip: str) -> bool:
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


def _bind_device(token: Row, device_id: str) -> bool:
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


def _within_rate_limit(token: Row) -> tuple[bool, int]:
    if not token.rate_limit:
        return True, 0
    item = parse_limit(f"{token.rate_limit}/minute")
    strategy = limiter.limiter
    if strategy.hit(item, "token", str(token.chain_id or token.id)):
        return True, 0
    reset_at, _remaining = strategy.get_window_stats(item, "token", str(token.chain_id or token.id))
    return False, max(1, int(reset_at - time.time()))


def _touch(token: Row, now: datetime, ip: str) -> bool:
    # At most once a minute per token, and the WHERE makes concurrent requests write it once.
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return False
    db.session.execute(
        update(ApiToken).where(ApiToken.id == token.id,
                               or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY))
        .values(last_used_at=now, last_used_ip=ip).execution_options(synchronize_session=False)
    )
    return True


@cache_once
def _credential_query() -> Select:
    """The token (by digest) and its owner's policy version, as one row of plain values. Built once, digest
    bound at execution. Neither the digest nor the encrypted last IP is read back.

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


def find_credential(secret: str) -> Row | None:
    """The credential row of a well-formed secret, or None.

    Core on a pooled connection of its own, outside the ORM session: no ORM objects, no session transaction to
    commit for a request that only reads (most API calls), and no tenant guard, which has no tenant yet: the
    row decides it. One statement needs no transaction of its own either, so on PostgreSQL the connection is in
    autocommit: no BEGIN and ROLLBACK round trips around the SELECT. What the check then writes (last use,
    device binding, a chain revoked) goes through the session, in the request's transaction."""
    with _reader(db.engine).connect() as connection:
        return connection.execute(_credential_query(), {"digest": crypto().digest(secret)}).first()


@lru_cache(maxsize=8)
def _reader(engine: Engine) -> Engine:
    # PostgreSQL: the same pool, connections switched to autocommit while checked out (a client-side flag of
    # psycopg: no round trip) and back when returned. SQLite sends no BEGIN for a read anyway, and switching
    # its isolation level back costs a PRAGMA per request, so its engine is used as it is.
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class RetiredSecretUsed(TokenRevoked):
    """A rotated secret used after its grace period: treated as leaked."""


def standing(token: Row, now: datetime) -> Policy:
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
    if policy.status != UserStatus.ACTIVE or owner.is_locked(now):
        raise _refuse(OwnerInactive(), token)
    if policy.role is None and not policy.is_operator:
        raise _refuse(OwnerInactive(str(_l("The owner is no longer a member of the tenant."))), token)
    return policy


def authenticate(secret: str, *, ip: str, device_id: str, now: datetime | None = None) -> Bearer:
    """Check a bearer secret; raises a DomainError (with `.token` when one was found) on refusal.

    Refusals that change state (the chain revoked after a retired secret was used) are flushed; the
    caller renders the refusal without rolling back, so they are kept.
    """
    if not secret:
        raise _refuse(MissingToken())
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
    return Bearer(token, policy, wrote=binds or touched)


def usable_scope(token: Row, policy: Policy) -> Scope | None:
    """The highest scope a use of the token is granted: its own scope, capped by what its owner may use now."""
    for scope in (Scope.ADMIN, Scope.WRITE, Scope.READ):
        if token.scope.covers(scope) and policy.allows(f"api.{scope.value}"):
            return scope
    return None


def introspect(secret: str, tenant_id: int, *, now: datetime | None = None) -> tuple[Row, Policy, Scope] | None:
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


def _bearer_secret() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def _problem(error: DomainError):
    response = current_app.make_response(
        render_error(error.status, error.code, str(error.title), error.detail)
    )
    if isinstance(error, MissingToken):
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubx"'
    elif error.status == 401:
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="hubx", error="invalid_token", error_description="{error.code}"')
    elif error.code == "insufficient_scope":
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubx", error="insufficient_scope"'
    if getattr(error, "retry_after", None):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _log(token: Row | None, outcome: str, status: int, ip: str) -> None:
    if token is None:
        return
    usage.record(token_id=token.id, tenant_id=token.tenant_id, endpoint=f"{request.method} {request.path}"[:128],
                 outcome=outcome, status=status, correlation_id=request_id(), ip=ip, user_agent=user_agent())


def api_auth(scope: Scope, permission: str | None = None):
    """Route decorator: a valid bearer token whose scope covers `scope`, and whose owner may do
    `permission` (and use `api.<scope>`) in the token's tenant. Sets g.bearer (and the current tenant)."""

    api_right = f"api.{scope.value}"

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            ip = client_ip()
            try:
                bearer = authenticate(_bearer_secret(), ip=ip, device_id=request.headers.get(DEVICE_HEADER, ""))
            except DomainError as error:
                _log(getattr(error, "token", None), error.code, error.status, ip)
                return _problem(error)
            token = bearer.credential
            g.bearer = bearer
            g.tenant_token = set_current_tenant(token.tenant_id)
            started = time.perf_counter()
            # The owner's rights bound the token's: scope and permission are both checked at every use.
            refusal = None
            # allows() on the way in; the reason (translated, the costly part) only for a refusal.
            if not token.scope.covers(scope) or not bearer.policy.allows(api_right):
                refusal = InsufficientScope(str(_l("This needs the %(scope)s scope.", scope=scope.value)))
            elif permission is not None and not bearer.policy.allows(permission):
                refusal = Forbidden(bearer.policy.decide(permission).reason)
            RESOLVE_SECONDS.observe(time.perf_counter() - started)
            if refusal is not None:
                _log(token, refusal.code, refusal.status, ip)
                return _problem(refusal)
            bad_body = check_body()
            if bad_body is not None:
                return bad_body
            if bearer.wrote:
                # A refusal by the view rolls its work back; the first client's binding and the last use
                # must stay whatever the view answers, or a later client could take the binding.
                db.session.commit()
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except DomainError as error:
                _log(token, error.code, error.status, ip)
                raise
            _log(token, "ok", response.status_code, ip)
            return response

        wrapped.api_scope = scope
        wrapped.permission = permission
        return wrapped

    return decorator
