"""What the token pages show beside the tokens themselves: uses and refusals per day in the tenant's time zone,
the length of each rotation chain, and whom to ask for a token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from app.core.mixins import utcnow
from app.extensions import db
from app.tenants.models import Tenant
from app.tokens import expiry
from app.tokens.models import ApiToken, TokenUsageLog
from app.users import services as user_services
from app.users.models import Role


@dataclass(frozen=True)
class DayUsage:
    """One day of a token's requests: accepted ones and refused ones."""

    day: date
    ok: int
    refused: int


def daily_usage(token: ApiToken, days: int, time_zone: str | None, *, today: date | None = None) -> list[DayUsage]:
    """Accepted and refused requests per day for the last `days` days, days as the tenant's clock has them
    (`time_zone`), oldest first, zero-filled."""
    zone = expiry.zone(time_zone)
    today = today or expiry.local_today(utcnow(), time_zone)
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=zone)
    rows = db.session.execute(
        select(TokenUsageLog.occurred_at, TokenUsageLog.outcome)
        .where(TokenUsageLog.token_id == token.id, TokenUsageLog.occurred_at >= start)
    ).all()
    ok: dict[date, int] = {}
    refused: dict[date, int] = {}
    for at, outcome in rows:
        day = at.astimezone(zone).date()
        counts = ok if outcome == "ok" else refused
        counts[day] = counts.get(day, 0) + 1
    return [DayUsage(day, ok.get(day, 0), refused.get(day, 0))
            for day in (first + timedelta(days=i) for i in range(days))]


def chain_lengths(tokens: list[ApiToken]) -> dict[int, int]:
    """For each token given, how many tokens its rotation chain has (1: never rotated), in one query."""
    chains = {t.chain_id for t in tokens if t.chain_id is not None}
    if not chains:
        return {t.id: 1 for t in tokens}
    counts = dict(db.session.execute(
        select(ApiToken.chain_id, func.count()).where(ApiToken.chain_id.in_(chains)).group_by(ApiToken.chain_id)
    ).all())
    return {t.id: counts.get(t.chain_id, 1) for t in tokens}


def who_to_ask(tenant: Tenant) -> list[str]:
    """The tenant's owners and admins, by name and email: the people who can change who may do what."""
    return [f"{user.name} ({user.email})" if user.name else user.email
            for user, membership in user_services.members(tenant)
            if membership.role is not None and membership.role.at_least(Role.ADMIN)]
