"""Shared by the second factor's tests: a fixed clock, an enrolled person, a session to bind codes to, one step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.services import Lifetimes, start_session
from app.twofactor import services
from app.twofactor.services import Limits, Method, StepResult

#: enrollment time: its step is used by the confirming code, so later checks use LATER
NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
META = {"ip": "203.0.113.9", "user_agent": "pytest", "request_id": "t"}


def actor(user) -> Actor:
    return Actor(user=user, ip="203.0.113.9", user_agent="pytest", request_id="t")


def code_at(secret: str, when: datetime, steps: int = 0) -> str:
    """The app's code `steps` 30-second steps away from `when`."""
    return pyotp.TOTP(secret).at(when + timedelta(seconds=30 * steps))


def enroll(user, *, now: datetime = NOW, name: str = "Phone") -> tuple[int, str, list[str] | None]:
    """An active app for `user` (committed): its id, its secret and the recovery codes it brought."""
    device, secret = services.begin_enrollment(actor(user), name, now=now, enroll_minutes=10)
    codes = services.confirm_enrollment(actor(user), device.id, code_at(secret, now), now=now, enroll_minutes=10)
    device_id = device.id
    db.session.commit()
    return device_id, secret, codes


def session_id(user, now: datetime = NOW) -> int:
    row, _ = start_session(user, ip="", user_agent="", now=now,
                           lifetimes=Lifetimes(timedelta(minutes=30), timedelta(hours=12)))
    db.session.commit()
    return row.id


def limits_from_config() -> Limits:
    """What the pages build from the settings."""
    config = current_app.config
    return Limits(lock_after=config["TWOFA_LOCK_AFTER"], lock_cap=timedelta(minutes=config["TWOFA_LOCK_MAX_MINUTES"]),
                  disable_after=config["TWOFA_DISABLE_AFTER"])


def step(user, method: Method, code: str, *, now: datetime, sid: int, limits: Limits | None = None,
         purpose: str = "sign_in") -> StepResult:
    result = services.check_step(user, method, code, session_id=sid, purpose=purpose, now=now,
                                 limits=limits or Limits(), meta=META)
    db.session.commit()
    return result


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id).execution_options(all_tenants=True)))


def race(app, count: int, prepare, act) -> list:
    """Run `act(prepare(n))` in `count` threads, each in its own app context (so its own database session and
    transaction, committed at its end); `prepare` runs before the threads are released together. Returns what
    each `act` returned; a thread's exception fails the test."""
    barrier = threading.Barrier(count, timeout=120)
    results: list = []
    errors: list = []

    def run(n: int) -> None:
        with app.app_context():
            try:
                state = prepare(n)
                db.session.commit()  # end the read transaction: the race starts from what is committed
                barrier.wait()
                results.append(act(state))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def enrolled(user, name: str = "Phone", *, now: datetime | None = None) -> tuple[str, list[str] | None]:
    """Give `user` a confirmed authenticator app named `name` at `now` (the real clock by default; committed);
    returns its secret and the recovery codes the first app brings (None for a later app)."""
    now = now or utcnow()
    device, secret = services.begin_enrollment(actor(user), name, now=now, enroll_minutes=10)
    codes = services.confirm_enrollment(actor(user), device.id, pyotp.TOTP(secret).at(now), now=now,
                                        enroll_minutes=10)
    db.session.commit()
    return secret, codes


def past_second_step(client, user) -> None:
    """Finish a sign-in that stopped at the second step, with a fresh recovery code (so no app code's step is
    spent: a test may still use the app's current code)."""
    from app.twofactor import recovery

    code = recovery.new_set(user.id)[0]
    db.session.commit()
    assert client.post("/auth/2fa", {"method": "recovery", "code": code}).status_code == 302
