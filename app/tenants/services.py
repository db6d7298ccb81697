"""Tenant rules: creation (standing in for the Core wizard), settings, members summary."""

from __future__ import annotations

import re
import zoneinfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import audit
from app.auth.services import normalise_email
from app.core.i18n import LOCALES
from app.core.models import Membership, Profile, Role, Tenant, User, UserStatus
from app.errors import Conflict, ValidationFailed
from app.extensions import db

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MIN_PASSWORD_LENGTH = 12


def valid_timezones() -> list[str]:
    """IANA zones offered in settings, sorted."""
    return sorted(zoneinfo.available_timezones())


def validate_password(password: str) -> None:
    """Length is the rule (NIST 800-63B): at least 12 characters, at most 1024."""
    if not (MIN_PASSWORD_LENGTH <= len(password) <= 1024):
        raise ValidationFailed(str(_l("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)),
                               field="password")


def create_user(email: str, password: str, *, name: str = "", status: UserStatus = UserStatus.ACTIVE) -> User:
    """A user with a profile; refuses an email already taken."""
    email = normalise_email(email)
    validate_password(password)
    taken = db.session.scalar(select(User.id).where(User.email == email).execution_options(include_deleted=True))
    if taken is not None:
        raise Conflict(str(_l("A user with this email already exists.")), field="email")
    user = User(email=email, name=name or email.partition("@")[0])
    user.set_password(password)
    user.profile = Profile(status=status)
    db.session.add(user)
    db.session.flush()
    return user


def create_tenant(slug: str, name: str, *, admin_email: str, admin_password: str | None,
                  actor_id: int | None = None) -> tuple[Tenant, User]:
    """Create a tenant and its owner; an existing user becomes owner without a new password."""
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(str(_l("Use lower-case letters, digits and dashes (at most 63).")), field="slug")
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug).execution_options(include_deleted=True)):
        raise Conflict(str(_l("A tenant with this slug already exists.")), field="slug")
    if not name.strip():
        raise ValidationFailed(str(_l("The name is required.")), field="name")
    tenant = Tenant(slug=slug, name=name.strip())
    db.session.add(tenant)
    db.session.flush()
    user = db.session.scalar(select(User).where(User.email == normalise_email(admin_email)))
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
    if not name.strip() or len(name.strip()) > 120:
        raise ValidationFailed(str(_l("The name is required (at most 120 characters).")), field="name")
    if timezone not in zoneinfo.available_timezones():
        raise ValidationFailed(str(_l("Choose a time zone from the list.")), field="timezone")
    if default_locale not in LOCALES:
        raise ValidationFailed(str(_l("Choose a language from the list.")), field="default_locale")
    changes = {}
    for attr, value in (("name", name.strip()), ("timezone", timezone), ("default_locale", default_locale)):
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
