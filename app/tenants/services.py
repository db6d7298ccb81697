"""Tenant rules: creation (standing in for the Core wizard), settings, members summary."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import audit
from app.core.errors import Conflict, ValidationFailed
from app.core.fieldadapters import validated
from app.core.fields import (
    check_display_name,
    check_email,
    check_locale,
    check_password,
    check_slug,
    check_tenant_name,
    check_time_zone,
    time_zones,
)
from app.core.models import Membership, Profile, Role, Tenant, User, UserStatus
from app.extensions import db


def valid_timezones() -> list[str]:
    """IANA zones offered in settings, sorted."""
    return time_zones()


def validate_password(password: str) -> None:
    """Length is the rule (NIST 800-63B): 12 to 1024 characters, not only spaces (the one password check)."""
    validated("password", check_password, password)


def create_user(email: str, password: str, *, name: str = "", status: UserStatus = UserStatus.ACTIVE) -> User:
    """A user with a profile; refuses an invalid email or one already taken."""
    email = validated("email", check_email, email)
    validate_password(password)
    name = (name or "").strip()
    name = validated("name", check_display_name, name) if name else email.partition("@")[0]
    taken = db.session.scalar(select(User.id).where(User.email == email).execution_options(include_deleted=True))
    if taken is not None:
        raise Conflict(str(_l("A user with this email already exists.")), field="email")
    user = User(email=email, name=name)
    user.set_password(password)
    user.profile = Profile(status=status)
    db.session.add(user)
    db.session.flush()
    return user


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


def update_settings(tenant: Tenant, *, name: str, timezone: str, default_locale: str,
                    actor_id: int, ip: str, user_agent: str, request_id: str) -> dict[str, list]:
    """Change name, time zone and default locale; returns what changed (old, new)."""
    name = validated("name", check_tenant_name, name)
    timezone = validated("timezone", check_time_zone, timezone)
    default_locale = validated("default_locale", check_locale, default_locale)
    changes = {}
    for attr, value in (("name", name), ("timezone", timezone), ("default_locale", default_locale)):
        if getattr(tenant, attr) != value:
            changes[attr] = [getattr(tenant, attr), value]
            setattr(tenant, attr, value)
    if changes:
        db.session.flush()
        audit.record("tenant.settings_changed", tenant_id=tenant.id, actor_id=actor_id, target_type="tenant",
                     target_id=tenant.id, ip=ip, user_agent=user_agent, request_id=request_id,
                     details={"changes": changes})
    return changes


def member_counts(tenant_id: int) -> dict[Role, int]:
    """Members of the tenant per role, every role present, highest first."""
    rows = db.session.execute(
        select(Membership.role, func.count()).where(Membership.tenant_id == tenant_id).group_by(Membership.role)
    ).all()
    counts = dict(rows)
    return {role: counts.get(role, 0) for role in Role}
