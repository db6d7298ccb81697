"""User rules: accounts (creation, the password and email checks), memberships, the user loader."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from app.core.errors import Conflict, NotFound
from app.core.fieldadapters import validated
from app.core.fields import (
    check_display_name,
    check_email,
    check_locale,
    check_password,
    check_time_zone,
    email_key,
)
from app.core.paging import Page, page_of
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Profile, User, UserStatus
from app.users.search import person_matches


def normalise_email(email: str) -> str:
    """The stored form of an email, for look-ups (the one email check's normalisation; app.core.fields)."""
    return email_key(email)


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


def set_preferred_locale(user: User, locale: str) -> bool:
    """Keep `locale` as the language every page speaks to `user` (one of the app's); True when it changed."""
    locale = validated("locale", check_locale, locale)
    if user.profile.locale == locale:
        return False
    user.profile.locale = locale
    db.session.flush()
    return True


def by_email(email: str) -> User | None:
    """The live user with this email (as typed: normalised here), or None."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def memberships_of(user: User) -> list[Membership]:
    """Every live membership of `user`, across tenants, ordered by tenant name."""
    return list(
        db.session.scalars(
            select(Membership).join(Membership.tenant)
            .where(Membership.user_id == user.id).order_by(Tenant.name)
            .execution_options(all_tenants=True)
        )
    )


def members(tenant: Tenant) -> list[tuple[User, Membership]]:
    """The tenant's members with their memberships, by email."""
    return list(db.session.execute(_members(tenant)).all())


def member_page(tenant: Tenant, *, search: str | None = None, page: int = 1, per_page: int = 25,
                clamp: bool = False) -> Page:
    """One page of the tenant's members (user, membership), by email; `search` finds text in the email or the
    name (`clamp`: past the end, the last page)."""
    query = _members(tenant)
    if search:
        query = query.where(person_matches(search))
    return page_of(query, page, per_page, clamp=clamp, rows=True)


def _members(tenant: Tenant) -> Select:
    return (select(User, Membership).join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == tenant.id).order_by(User.email).execution_options(all_tenants=True))


def member(tenant: Tenant, user_id: int) -> User:
    """A member of the tenant by user id; 404 (`NotAMember`) otherwise."""
    user = db.session.scalar(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, User.id == user_id).execution_options(all_tenants=True)
    )
    if user is None:
        raise NotAMember(str(_l("Choose a member of this tenant.")), field="user_id")
    return user


class NotAMember(NotFound):
    """The user named is not a member of the tenant (404: the same answer whether the user exists or not)."""


def update_profile(user: User, *, name: str, locale: str | None, timezone: str | None) -> None:
    """Change one's name, language and time zone (empty: the tenant's), each through its one check."""
    user.name = validated("name", check_display_name, name)
    user.profile.locale = validated("locale", check_locale, locale) if locale else None
    user.profile.timezone = validated("timezone", check_time_zone, timezone) if timezone else None
    db.session.flush()


def sync_profiles() -> int:
    """Give every account without a profile one (active, no lock, no preferences); returns how many were made.
    Idempotent: a second run makes none."""
    missing = db.session.scalars(
        select(User.id).outerjoin(Profile, Profile.user_id == User.id).where(Profile.id.is_(None))
        .execution_options(include_deleted=True)).all()
    db.session.add_all(Profile(user_id=user_id, status=UserStatus.ACTIVE) for user_id in missing)
    db.session.flush()
    return len(missing)
