"""Tenant rules: creation (standing in for the Core wizard), settings, members summary."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import audit
from app.core.actor import Actor
from app.core.errors import Conflict, ValidationFailed
from app.core.fieldadapters import FieldErrors, validated
from app.core.fields import (
    check_email,
    check_locale,
    check_slug,
    check_tenant_name,
    check_time_zone,
    time_zones,
)
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User
from app.users.services import create_user, memberships_of


def valid_timezones() -> list[str]:
    """IANA zones offered in settings, sorted."""
    return time_zones()


def by_slug(slug: str) -> Tenant | None:
    """The live tenant with this slug, or None."""
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def all_tenants() -> list[Tenant]:
    """Every live tenant, by name (the operators' tenant switcher)."""
    return list(db.session.scalars(select(Tenant).order_by(Tenant.name)))


def create_tenant(slug: str, name: str, *, admin_email: str, admin_password: str | None,
                  actor_id: int | None = None) -> tuple[Tenant, User]:
    """Create a tenant and its owner; an existing user becomes owner without a new password."""
    slug = validated("slug", check_slug, slug)
    admin_email = validated("email", check_email, admin_email)
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug).execution_options(include_deleted=True)):
        raise Conflict(str(_l("A tenant with this slug already exists.")), field="slug")
    name = validated("name", check_tenant_name, name)
    tenant = Tenant(slug=slug, name=name)
    db.session.add(tenant)
    db.session.flush()
    user = db.session.scalar(select(User).where(User.email == admin_email))
    if user is None:
        if not admin_password:
            raise ValidationFailed(str(_l("A new admin needs a password.")), field="password")
        user = create_user(admin_email, admin_password)
    db.session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=Role.OWNER))
    db.session.flush()  # the database bumps the user's policy version (migration 0004)
    audit.record("tenant.created", tenant_id=tenant.id, actor_id=actor_id, target_type="tenant",
                 target_id=tenant.id, details={"slug": slug, "owner_user_id": user.id})
    return tenant, user


def add_member(tenant: Tenant, user: User, role: Role, *, actor_id: int | None = None) -> Membership:
    """Give `user` a place in `tenant` with `role`."""
    exists = db.session.scalar(
        select(Membership.id).where(Membership.tenant_id == tenant.id, Membership.user_id == user.id)
        .execution_options(all_tenants=True, include_deleted=True)
    )
    if exists is not None:
        raise Conflict(str(_l("This user is already a member of the tenant.")))
    membership = Membership(tenant_id=tenant.id, user_id=user.id, role=role)
    db.session.add(membership)
    db.session.flush()  # the database bumps the user's policy version (migration 0004)
    audit.record("membership.created", tenant_id=tenant.id, actor_id=actor_id, target_type="user",
                 target_id=user.id, details={"role": str(role)})
    return membership


def update_settings(actor: Actor, tenant: Tenant, *, name: str, timezone: str, default_locale: str) -> dict[str, list]:
    """Change name, time zone and default locale; returns what changed (old, new). Every refused field at once."""
    with FieldErrors() as errors:
        name = errors.collect(validated, "name", check_tenant_name, name)
        timezone = errors.collect(validated, "timezone", check_time_zone, timezone)
        default_locale = errors.collect(validated, "default_locale", check_locale, default_locale)
    changes = {}
    for attr, value in (("name", name), ("timezone", timezone), ("default_locale", default_locale)):
        if getattr(tenant, attr) != value:
            changes[attr] = [getattr(tenant, attr), value]
            setattr(tenant, attr, value)
    if changes:
        db.session.flush()
        audit.record("tenant.settings_changed", tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                     details={"changes": changes}, **actor.meta())
    return changes


def page_tenant(slug: str, user) -> tuple[Tenant, Membership | None] | None:
    """The tenant of a `/t/<slug>/` page for `user`, with their membership: a member's tenant, or any live tenant
    for a platform operator looking in (what they may do there is the gate's); None otherwise."""
    membership = db.session.scalar(
        select(Membership).join(Membership.tenant)
        .where(Tenant.slug == slug, Membership.user_id == user.id)
        .execution_options(all_tenants=True)
    )
    if membership is not None:
        return membership.tenant, membership
    if user.is_operator:
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        return (tenant, None) if tenant is not None else None
    return None


def landing_tenant(user, remembered: str | None = None) -> Tenant | None:
    """Where `user` lands (`/`, sign-in): the tenant they last used (`remembered`, a slug) while they may still
    open it; else the first tenant they own; else their first tenant by name; None when they belong to none."""
    if remembered:
        found = page_tenant(remembered, user)
        if found is not None:
            return found[0]
    memberships = memberships_of(user)
    owned = [m for m in memberships if m.role == Role.OWNER]
    first = (owned or memberships or [None])[0]
    return first.tenant if first is not None else None


def member_counts(tenant_id: int) -> dict[Role, int]:
    """Members of the tenant per role, every role present, highest first."""
    rows = db.session.execute(
        select(Membership.role, func.count()).where(Membership.tenant_id == tenant_id).group_by(Membership.role)
    ).all()
    counts = dict(rows)
    return {role: counts.get(role, 0) for role in Role}
