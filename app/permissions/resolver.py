"""resolve(): compiled policies cached per app process, kept honest by a per-user version in the database."""

from __future__ import annotations

import time
from collections import OrderedDict
from functools import cache as cache_once
from threading import Lock

from flask import current_app
from prometheus_client import Counter, Histogram
from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import NoResultFound

from app.extensions import db
from app.permissions.models import PermissionRule, PolicyVersion
from app.permissions.policy import Decision, Policy, Subject
from app.tenants.models import Tenant
from app.users.models import Membership, Profile, User, UserStatus

CACHE_KEY = "hubx_policy_cache"
RULE_COLUMNS = (PermissionRule.id, PermissionRule.effect, PermissionRule.module, PermissionRule.action,
                PermissionRule.resource_type, PermissionRule.resource_id, PermissionRule.expires_at,
                PermissionRule.tenant_id, PermissionRule.reason)
CACHE_SIZE = 10_000

CACHE_LOOKUPS = Counter("hubx_permission_cache_lookups_total", "Policy cache lookups", ["result"])
RESOLVE_SECONDS = Histogram("hubx_permission_resolve_seconds", "Time to resolve one permission check",
                            buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2))
_HITS, _MISSES = CACHE_LOOKUPS.labels("hit"), CACHE_LOOKUPS.labels("miss")  # bound once: a lookup per request


class PolicyCache:
    """An LRU of compiled policies for one app (one per process in production)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, int], Policy] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[int, int], version: int) -> Policy | None:
        with self._lock:
            policy = self._items.get(key)
            if policy is None or policy.version != version:
                self.misses += 1
                _MISSES.inc()
                return None
            self._items.move_to_end(key)
            self.hits += 1
            _HITS.inc()
            return policy

    def put(self, key: tuple[int, int], policy: Policy) -> None:
        with self._lock:
            self._items[key] = policy
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def cache() -> PolicyCache:
    """This app's policy cache."""
    extensions = current_app.extensions
    found = extensions.get(CACHE_KEY)  # not setdefault(KEY, PolicyCache()): that builds a cache on every call
    return found if found is not None else extensions.setdefault(CACHE_KEY, PolicyCache())


@cache_once
def _version_query() -> Select:
    return select(PolicyVersion.version).where(PolicyVersion.user_id == bindparam("user_id"))


def policy_version(user_id: int) -> int:
    """The user's current policy version (0 before the first change)."""
    # Once per request: through Core on the session's connection (same transaction), skipping the ORM layer,
    # which costs more than the query here. The table is neither tenant-owned nor soft-deleted.
    return db.session.connection().execute(_version_query(), {"user_id": user_id}).scalar() or 0


def bump_policy_version(user_id: int) -> None:
    """Invalidate every cached policy of `user_id`, in every process, from the next request on."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(PolicyVersion).values(user_id=user_id, version=1)
    db.session.execute(stmt.on_conflict_do_update(index_elements=[PolicyVersion.user_id],
                                                  set_={"version": PolicyVersion.version + 1}))


@cache_once
def _policy_query() -> Select:
    # One row per live rule of this tenant or global (rule columns NULL when there is none), each carrying the
    # user's flag and status and the role here (NULL when not a member): one round trip. Columns, not
    # entities, run through Core: a busy user has hundreds of rules, and ORM loading would cost more than the
    # query. Core means no tenant guard, so the soft-delete filters are written out here. Built once.
    tenant_id = bindparam("tenant_id")
    return (
        select(User.is_operator, Profile.status, Membership.role, Membership.blocked_at, *RULE_COLUMNS)
        .join(Profile, Profile.user_id == User.id)
        .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.tenant_id == tenant_id,
                                    Membership.deleted_at.is_(None)))
        .outerjoin(PermissionRule, and_(PermissionRule.user_id == User.id,
                                        or_(PermissionRule.tenant_id == tenant_id,
                                            PermissionRule.tenant_id.is_(None)),
                                        PermissionRule.deleted_at.is_(None)))
        .where(User.id == bindparam("user_id"), User.deleted_at.is_(None))
    )


def compile_policy(user_id: int, tenant_id: int, version: int) -> Policy:
    """Build the policy from the database (role, status, operator flag, live rules) in one round trip."""
    if db.session.autoflush:
        db.session.flush()  # Core does not autoflush; a change made earlier in this transaction must count
    rows = db.session.connection().execute(_policy_query(), {"user_id": user_id, "tenant_id": tenant_id}).all()
    if not rows:
        raise NoResultFound(f"no live user {user_id}")
    user = rows[0]
    rules = [row[4:] for row in rows if row.id is not None]
    # A membership a tenant admin blocked denies everything in that tenant, as a blocked account does everywhere;
    # the role stays, so the person still ranks as before (no one below them may act on them).
    status = UserStatus.BLOCKED if user.blocked_at is not None else user.status
    return Policy.compile(user_id=user_id, tenant_id=tenant_id, status=status, role=user.role,
                          blocked_here=user.blocked_at is not None and user.status == UserStatus.ACTIVE,
                          is_operator=user.is_operator, version=version, rules=rules)


@cache_once
def _subject_query() -> Select:
    tenant = and_(Tenant.id == bindparam("tenant_id"), Tenant.deleted_at.is_(None))
    return (
        select(User.email, User.name, Profile.locked_until, Tenant.slug, Tenant.name.label("tenant_name"),
               Tenant.default_locale, Tenant.timezone)
        .join(Profile, Profile.user_id == User.id)
        .outerjoin(Tenant, tenant)
        .where(User.id == bindparam("user_id"), User.deleted_at.is_(None))
    )


def subject_of(policy: Policy) -> Subject:
    """Who `policy` is for and where (the bearer check's and /me's facts), read once per compiled policy.

    Not part of compile_policy's query, which repeats its columns on every rule row: the pages never need
    them, and their uncached check stays as cheap as it was. Read after the version the policy was built at,
    so never older than it; the triggers of migration 0004 bump the version when any of it changes."""
    if policy.subject is None:
        row = db.session.connection().execute(
            _subject_query(), {"user_id": policy.user_id, "tenant_id": policy.tenant_id}).first()
        if row is None:
            raise NoResultFound(f"no live user {policy.user_id}")
        policy.subject = Subject(email=row.email, name=row.name, locked_until=row.locked_until,
                                 tenant_slug=row.slug, tenant_name=row.tenant_name,
                                 tenant_locale=row.default_locale, tenant_timezone=row.timezone)
    return policy.subject


def load_policy(user_id: int, tenant_id: int, *, version: int | None = None) -> Policy:
    """The cached policy when its version is current, else a freshly compiled one."""
    version = policy_version(user_id) if version is None else version
    key = (user_id, tenant_id)
    policy = cache().get(key, version)
    if policy is None:
        policy = compile_policy(user_id, tenant_id, version)
        cache().put(key, policy)
    return policy


def resolve(user: User, tenant: Tenant, key: str, resource: str | None = None, *,
            explain: bool = False) -> Decision:
    """Decide whether `user` may do `key` (`module.action`) in `tenant`, on `resource` (`type:id`)."""
    started = time.perf_counter()
    decision = load_policy(user.id, tenant.id).decide(key, resource, explain=explain)
    RESOLVE_SECONDS.observe(time.perf_counter() - started)
    return decision


def warm_up(user: User) -> int:
    """Compile the user's policy for each tenant they belong to (at sign-in); returns how many."""
    version = policy_version(user.id)
    tenant_ids = db.session.scalars(
        select(Membership.tenant_id).where(Membership.user_id == user.id).execution_options(all_tenants=True)
    ).all()
    for tenant_id in tenant_ids:
        load_policy(user.id, tenant_id, version=version)
    return len(tenant_ids)
