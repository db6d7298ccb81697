"""Helpers for second-factor tests: a person with an authenticator app, as enrollment makes one."""

from __future__ import annotations

from datetime import datetime

import pyotp

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.twofactor import services


def enroll(user, name: str = "Phone", *, now: datetime | None = None) -> tuple[str, list[str] | None]:
    """Give `user` a confirmed authenticator app named `name` (committed); returns its secret and the recovery
    codes the first app brings (None for a later app)."""
    now = now or utcnow()
    actor = Actor(user)
    device, secret = services.begin_enrollment(actor, name, now=now, enroll_minutes=10)
    codes = services.confirm_enrollment(actor, device.id, pyotp.TOTP(secret).at(now), now=now, enroll_minutes=10)
    db.session.commit()
    return secret, codes
