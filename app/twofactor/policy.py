"""The second factor as a tenant's admins see it: the tenant's policy (which roles must use a second factor, and
whether codes by email may stand in for an app), a member's state (never a secret), and the admin's reset of a
member's second factor. Services take explicit arguments and never commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import audit
from app.core.actor import Actor
from app.core.errors import Conflict
from app.core.fieldadapters import FieldErrors, validated
from app.core.fields import FieldInvalid
from app.extensions import db
from app.permissions.ceiling import check_may_act_on
from app.tenants.models import Tenant
from app.twofactor import recovery, services
from app.twofactor.models import TotpDevice
from app.users.admin import member
from app.users.models import Role, User

#: the roles a policy may name, in rank order (highest first): the stored list keeps this order
ROLE_NAMES = tuple(role.value for role in sorted(Role, key=lambda r: r.rank, reverse=True))


# -- the tenant's policy ---------------------------------------------------------------------------------------------

def check_required_roles(value) -> list[str]:
    """The roles that must use a second factor: a list of role names (none is allowed: nobody must), each known,
    each once; returned in rank order (the settings form, the service and any other entry point)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise FieldInvalid(_l("Choose roles from the list."))
    names = list(value)
    if any(not isinstance(name, str) or name not in ROLE_NAMES for name in names):
        raise FieldInvalid(_l("Choose roles from the list: %(roles)s.", roles=", ".join(ROLE_NAMES)))
    return [name for name in ROLE_NAMES if name in names]


check_required_roles.choices = ROLE_NAMES


def check_email_codes(value) -> bool:
    """Whether members without an authenticator app may pass the second step with a code sent by email: yes or
    no (a boolean, nothing else)."""
    if not isinstance(value, bool):
        raise FieldInvalid(_l("Choose yes or no."))
    return value


@dataclass(frozen=True)
class Policy:
    """A tenant's second-factor policy as its settings show it."""

    required_roles: list[str]
    email_codes: bool


def policy_of(tenant: Tenant) -> Policy:
    return Policy([name for name in ROLE_NAMES if name in tenant.twofa_required_roles.split(",")],
                  bool(tenant.twofa_email_codes))


def update_twofa_policy(actor: Actor, tenant: Tenant, *, roles, email_codes) -> bool:
    """Set which roles must use a second factor here and whether codes by email may stand in for an app; True when
    something changed (audited with the values before and after). Members of those roles are taken to enrollment
    at their next sign-in (the second step's pages enforce it)."""
    with FieldErrors() as errors:
        chosen = errors.collect(validated, "required_roles", check_required_roles, roles)
        by_email = errors.collect(validated, "email_codes", check_email_codes, email_codes)
    before = policy_of(tenant)
    after = Policy(chosen, by_email)
    if before == after:
        return False
    tenant.twofa_required_roles = ",".join(chosen)
    tenant.twofa_email_codes = by_email
    db.session.flush()
    audit.record("tenant.twofa_policy_changed", tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                 details={"required_roles": [before.required_roles, after.required_roles],
                          "email_codes": [before.email_codes, after.email_codes]}, **actor.meta())
    return True


# -- a member's state ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Status:
    """A person's second factor as an admin (or the person, through the API) may see it: never a secret."""

    enabled_at: datetime | None
    devices: list[TotpDevice]
    #: apps added but not confirmed yet (an enrollment in progress)
    enrolling: int
    recovery_codes_left: int
    locked_until: datetime | None
    disabled_at: datetime | None
    successes: int
    failures: int
    recovery_uses: int
    rate_limited: int

    @property
    def resettable(self) -> bool:
        """Something an admin's reset would remove or clear."""
        return bool(self.enabled_at or self.devices or self.enrolling or self.recovery_codes_left
                    or self.locked_until or self.disabled_at)


def status_of(user: User) -> Status:
    """The person's second factor: on since, apps (names and dates), recovery codes left, counters, lock."""
    profile = user.profile
    active = services.devices(user.id)
    enrolling = db.session.scalar(select(func.count()).select_from(TotpDevice)
                                  .where(TotpDevice.user_id == user.id, TotpDevice.confirmed_at.is_(None))) or 0
    return Status(profile.twofa_enabled_at, active, enrolling, recovery.remaining(user.id), profile.twofa_locked_until,
                  profile.twofa_disabled_at, profile.twofa_successes, profile.twofa_failures,
                  profile.twofa_recovery_uses, profile.twofa_rate_limited)


# -- an admin's reset ------------------------------------------------------------------------------------------------

def reset_target(actor: Actor, tenant: Tenant, user_id: int) -> User:
    """The member whose second factor `actor` may reset, or the refusal: a live member of this tenant (404
    otherwise), never someone ranking above the admin (403), never oneself (409: one's own apps are removed on
    one's security page, after a step-up), and only when there is something to reset (409)."""
    user, _membership = member(tenant, user_id, include_removed=False)
    check_may_act_on(actor, tenant.id, user.id)
    if actor.user is not None and actor.user.id == user.id:
        raise Conflict(str(_l("Your own authenticator apps are removed on your security page, not here.")))
    if not status_of(user).resettable:
        raise Conflict(str(_l("%(email)s has no two-step sign-in to reset.", email=user.email)))
    return user


def reset_of_member(actor: Actor, tenant: Tenant, user_id: int, *, now: datetime, locale: str) -> User:
    """An admin resets a member's second factor (the page and the API), under `reset_target`'s refusals; the
    person is told by email. The caller made sure the admin proved themselves recently (pages) or holds an
    admin-scope token (the API)."""
    user = reset_target(actor, tenant, user_id)
    services.reset_member(actor, tenant, user, now=now, locale=locale)
    return user
