"""A new token's lifetime as people choose it (GitHub's and GitLab's presets): 7, 30, 60 or 90 days, the
tenant's default, a date of one's own, or never where the tenant's policy allows it. The checks here are the
one check of each lifetime field, run by the create form (so it reports them with every other field at once)
and again by the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _l

from app.core.fields import FieldInvalid

#: the lifetimes offered first, in days (the tenant's default is added when it is another)
PRESETS = (7, 30, 60, 90)
CUSTOM, NEVER = "custom", "never"


def zone(name: str | None) -> ZoneInfo:
    """The tenant's time zone (UTC when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(now: datetime, time_zone: str | None) -> date:
    """Today's date in the tenant's time zone."""
    return now.astimezone(zone(time_zone)).date()


def check_expiry_date(value, today: date, max_days: int) -> int:
    """A custom expiry day (a date, or its ISO text as a date input sends it): from tomorrow up to `max_days`
    days from `today` (the tenant's). Returns the lifetime in days."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()) if len(value) <= 10 else None
        except ValueError:
            value = None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise FieldInvalid(_l("Choose the day the token expires."))
    days = (value - today).days
    if not 1 <= days <= max_days:
        last = today + timedelta(days=max_days)
        raise FieldInvalid(_l("Choose a day from %(first)s to %(last)s.", first=(today + timedelta(days=1)).isoformat(),
                              last=last.isoformat()))
    return days


def check_default_days(value, max_days: int | None) -> int:
    """The tenant policy's default lifetime: 1 day up to its longest (unknown while the longest is refused)."""
    if not isinstance(value, int) or value < 1 or (max_days is not None and value > max_days):
        raise FieldInvalid(_l("The default lifetime is 1 day up to the maximum."))
    return value


@dataclass(frozen=True)
class Choice:
    """One lifetime offered on the create form: its value and the day it would end."""

    value: str
    days: int | None  # None: a custom date, or never
    ends: datetime | None  # when a token created now would expire


def choices(*, now: datetime, default_days: int, max_days: int, allow_never: bool) -> list[Choice]:
    """The lifetimes offered under the tenant's policy, shortest first, then a custom date, then never."""
    days = sorted({d for d in PRESETS if d <= max_days} | {default_days})
    offered = [Choice(str(d), d, now + timedelta(days=d)) for d in days]
    offered.append(Choice(CUSTOM, None, None))
    if allow_never:
        offered.append(Choice(NEVER, None, None))
    return offered
