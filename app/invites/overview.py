"""The tenant's view of its invites: the dashboard card's figures and the invite settings (lifetimes, daily
limit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import audit
from app.core.actor import Actor
from app.core.fieldadapters import FieldErrors, validated
from app.extensions import db
from app.invites.models import Invite, InviteStatus, InviteUse, check_daily_limit, check_ttl_hours
from app.invites.services import remaining_today
from app.tenants.models import Tenant


@dataclass(frozen=True)
class InviteSummary:
    """The dashboard card's figures."""

    pending: int  #: invites and links that can still be used
    joined_week: int  #: people who joined by an invite in the last 7 days (approved joins included)
    waiting: int  #: joins by a link waiting for approval
    left_today: int  #: invites the viewer may still make today


def summary(tenant: Tenant, viewer_id: int, now: datetime) -> InviteSummary:
    """Pending invites, joins of the last 7 days, joins waiting and the viewer's quota left today."""
    pending = db.session.scalar(select(func.count(Invite.id)).where(
        Invite.tenant_id == tenant.id, Invite.status == InviteStatus.PENDING, Invite.expires_at > now))
    joined = db.session.scalar(select(func.count(InviteUse.id)).where(
        InviteUse.tenant_id == tenant.id, InviteUse.approved_at.is_not(None),
        InviteUse.approved_at > now - timedelta(days=7)))
    waiting_count = db.session.scalar(select(func.count(InviteUse.id)).where(
        InviteUse.tenant_id == tenant.id, InviteUse.approved_at.is_(None)))
    return InviteSummary(pending or 0, joined or 0, waiting_count or 0, remaining_today(tenant, viewer_id, now))


def _invite_settings(tenant: Tenant) -> dict:
    return {"invite_ttl_hours": tenant.invite_ttl_hours, "invite_max_ttl_hours": tenant.invite_max_ttl_hours,
            "invite_daily_limit": tenant.invite_daily_limit}


def update_invite_settings(actor: Actor, tenant: Tenant, *, ttl_hours, max_ttl_hours, daily_limit) -> Tenant:
    """Change the lifetime a new invite gets and the longest one may ask for (1 to 720 hours, the first at most the
    second) and the daily limit per issuer (1 to 1000); every refused field at once; audited when something
    changed. Invites already made keep their expiry."""
    with FieldErrors() as errors:
        ttl = errors.collect(validated, "invite_ttl_hours", check_ttl_hours, ttl_hours)
        longest = errors.collect(validated, "invite_max_ttl_hours", check_ttl_hours, max_ttl_hours)
        limit = errors.collect(validated, "invite_daily_limit", check_daily_limit, daily_limit)
        if ttl is not None and longest is not None and ttl > longest:
            errors.refuse("invite_ttl_hours", _l("A new invite cannot last longer than the longest lifetime "
                                                 "(%(hours)d hours).", hours=longest))
    before = _invite_settings(tenant)
    tenant.invite_ttl_hours, tenant.invite_max_ttl_hours, tenant.invite_daily_limit = ttl, longest, limit
    db.session.flush()
    after = _invite_settings(tenant)
    if after != before:
        audit.record("invite.settings_changed", tenant_id=tenant.id, target_type="tenant", target_id=tenant.id,
                     details={"before": before, "after": after}, **actor.meta())
    return tenant
