"""`flask twofa ...`: key rotation end to end, sealing plain secrets, the status report and the metrics counters;
their outputs, exit codes and audit events, and --dry-run writing nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from app.core.mixins import utcnow
from app.extensions import db
from app.twofactor import browsers, recovery, secrets, services
from app.twofactor.cli import reseal_secrets, status
from app.twofactor.models import RememberedBrowser, TotpDevice
from app.twofactor.services import Method, Refusal
from app.users.models import Membership, Profile, Role
from tests.twofactor.helpers import LATER, NOW, actor, code_at, enroll, events, session_id, step

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
STATUS_KEYS = {"generated_at", "people_with_2fa", "devices_active", "enrollments_in_progress", "enrollments_lapsed",
               "recovery_codes_left", "people_low_on_recovery_codes", "people_locked_now", "people_disabled",
               "remembered_browsers_live", "secrets"}


def _secrets() -> dict[int, str]:
    return dict(db.session.execute(select(TotpDevice.id, TotpDevice.secret).order_by(TotpDevice.id)).all())


def _store(device_id: int, value: str) -> None:
    db.session.execute(update(TotpDevice).where(TotpDevice.id == device_id).values(secret=value))
    db.session.commit()


def _report(run, *args) -> dict:
    result = run("twofa", "status-report", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.config(TWOFA_FERNET_KEYS=[KEY_A])
def test_key_rotation_end_to_end(app, run, create_user):
    people = [create_user() for _ in range(3)]
    enrolled = [enroll(person) for person in people]
    assert _report(run)["secrets"] == {"sealed_current_key": 3, "sealed_old_key": 0, "plain": 0, "unreadable": 0}

    app.config["TWOFA_FERNET_KEYS"] = [KEY_B, KEY_A]  # a new key first, the old one kept: "restart"
    assert _report(run)["secrets"]["sealed_old_key"] == 3
    # codes still pass under the old key before the rotation (the app keeps working meanwhile)
    assert step(people[0], Method.TOTP, code_at(enrolled[0][1], LATER), now=LATER, sid=session_id(people[0])).ok

    result = run("twofa", "reencrypt")
    assert result.exit_code == 0, result.output
    assert "3 examined, 3 resealed, 0 already under the current key, 0 skipped, 0 unreadable" in result.output
    assert [e.details for e in events("twofa.secrets_reencrypted")] == [
        {"count": 3, "unreadable": 0, "command": "reencrypt", "force": False}]
    assert all(Fernet(KEY_B).decrypt(stored[2:].encode()) for stored in _secrets().values())

    again = run("twofa", "reencrypt")  # idempotent
    assert "3 examined, 0 resealed, 3 already under the current key" in again.output

    app.config["TWOFA_FERNET_KEYS"] = [KEY_B]  # the old key removed: "restart"
    report = _report(run)
    assert report["secrets"] == {"sealed_current_key": 3, "sealed_old_key": 0, "plain": 0, "unreadable": 0}
    later = LATER + timedelta(minutes=1)
    for person, (_, secret, _) in zip(people, enrolled, strict=True):
        assert step(person, Method.TOTP, code_at(secret, later), now=later, sid=session_id(person)).ok


@pytest.mark.config(TWOFA_FERNET_KEYS=[KEY_A])
def test_removing_the_old_key_before_reencrypting_refuses_codes(app, run, create_user):
    """What the procedure prevents: without `reencrypt`, dropping key A leaves the secrets unreadable."""
    user = create_user()
    _, secret, _ = enroll(user)
    app.config["TWOFA_FERNET_KEYS"] = [KEY_B]
    assert _report(run)["secrets"]["unreadable"] == 1
    refused = step(user, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(user))
    assert (refused.ok, refused.refusal) == (False, Refusal.WRONG)


@pytest.mark.config(TWOFA_FERNET_KEYS=[KEY_A])
def test_dry_run_changes_nothing(app, run, create_user):
    for _ in range(2):
        enroll(create_user())
    app.config["TWOFA_FERNET_KEYS"] = [KEY_B, KEY_A]
    before = _secrets()
    result = run("twofa", "reencrypt", "--dry-run")
    assert result.exit_code == 0 and "2 examined, 2 would reseal" in result.output
    db.session.expire_all()
    assert _secrets() == before and events("twofa.secrets_reencrypted") == []
    result = run("twofa", "reencrypt-secrets", "--dry-run")
    assert result.exit_code == 0 and "2 would reseal" in result.output
    db.session.expire_all()
    assert _secrets() == before and events("twofa.secrets_reencrypted") == []


def test_force_reseals_current_secrets_too(run, create_user):
    user = create_user()
    _, secret, _ = enroll(user)
    before = _secrets()
    result = run("twofa", "reencrypt", "--force")
    assert result.exit_code == 0 and "1 examined, 1 resealed" in result.output
    after = _secrets()
    assert after != before and secrets.unseal(next(iter(after.values()))) == secret
    assert events("twofa.secrets_reencrypted")[0].details["force"] is True


@pytest.mark.config(TWOFA_FERNET_KEYS=[KEY_A])
def test_an_unreadable_secret_is_named_the_others_are_done_and_the_exit_is_1(app, run, create_user):
    for _ in range(3):
        enroll(create_user())
    ids = list(_secrets())
    _store(ids[1], "f:" + Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXP").decode())
    app.config["TWOFA_FERNET_KEYS"] = [KEY_B, KEY_A]
    before = _secrets()
    result = run("twofa", "reencrypt")
    assert result.exit_code == 1
    assert "3 examined, 2 resealed, 0 already under the current key, 0 skipped, 1 unreadable" in result.output
    assert f"device {ids[1]}: no key opens its secret" in result.output
    assert "JBSWY3DPEHPK3PXP" not in result.output and before[ids[1]][2:] not in result.output
    db.session.expire_all()
    after = _secrets()
    assert after[ids[1]] == before[ids[1]]  # left as it is
    assert all(secrets.is_current(after[i]) for i in (ids[0], ids[2]))
    assert events("twofa.secrets_reencrypted")[0].details["unreadable"] == 1


def test_batches_cover_every_row(create_user):
    """Keyset batches of 2 over 5 rows (3 batches, a commit after each) reach every row once."""
    for _ in range(5):
        enroll(create_user())
    for device_id, stored in _secrets().items():
        _store(device_id, "p:" + secrets.unseal(stored))
    report = reseal_secrets(dry_run=False, plain=True, old_key=True, batch=2)
    assert (report.examined, report.resealed, report.unreadable) == (5, 5, [])
    db.session.expire_all()
    assert all(secrets.is_current(stored) for stored in _secrets().values())
    report = reseal_secrets(dry_run=False, plain=True, old_key=True, batch=5)  # a full last batch, then none
    assert (report.examined, report.already_current) == (5, 5)


@pytest.mark.config(TWOFA_ENCRYPT_SECRETS=False, TWOFA_FERNET_KEYS=[KEY_A])
def test_reencrypt_secrets_seals_plain_rows(app, run, create_user):
    plain_people = [create_user() for _ in range(2)]
    plain = [enroll(person) for person in plain_people]
    assert all(stored.startswith("p:") for stored in _secrets().values())

    refused = run("twofa", "reencrypt-secrets", "--unencrypted-only")
    assert refused.exit_code == 2 and "TWOFA_ENCRYPT_SECRETS is off" in refused.output
    kept = run("twofa", "reencrypt")  # encryption off: plain rows are left plain
    assert kept.exit_code == 0 and "0 resealed, 0 already under the current key, 2 skipped" in kept.output
    assert all(stored.startswith("p:") for stored in _secrets().values())

    app.config["TWOFA_ENCRYPT_SECRETS"] = True
    sealed_user = create_user()
    enroll(sealed_user)  # sealed under A
    app.config["TWOFA_FERNET_KEYS"] = [KEY_B, KEY_A]
    assert _report(run)["secrets"] == {"sealed_current_key": 0, "sealed_old_key": 1, "plain": 2, "unreadable": 0}

    result = run("twofa", "reencrypt-secrets", "--unencrypted-only", "--limit", "1")
    assert result.exit_code == 0 and "1 resealed" in result.output
    assert _report(run)["secrets"] == {"sealed_current_key": 1, "sealed_old_key": 1, "plain": 1, "unreadable": 0}
    result = run("twofa", "reencrypt-secrets", "--unencrypted-only")
    assert result.exit_code == 0 and "1 resealed" in result.output and "1 skipped" in result.output
    assert _report(run)["secrets"] == {"sealed_current_key": 2, "sealed_old_key": 1, "plain": 0, "unreadable": 0}
    result = run("twofa", "reencrypt-secrets")
    assert result.exit_code == 0 and "1 resealed" in result.output
    assert _report(run)["secrets"] == {"sealed_current_key": 3, "sealed_old_key": 0, "plain": 0, "unreadable": 0}
    assert [e.details["count"] for e in events("twofa.secrets_reencrypted")] == [0, 1, 1, 1]
    for person, (_, secret, _) in zip(plain_people, plain, strict=True):
        assert step(person, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(person)).ok


def test_limit_must_be_positive(run):
    assert run("twofa", "reencrypt-secrets", "--limit", "0").exit_code == 2


def test_the_status_report(run, create_user, member_of, create_tenant):
    ana = create_user()
    enroll(ana)
    bea = create_user()
    _, _, bea_codes = enroll(bea)
    for code in bea_codes[:7]:  # bea is down to 3 codes
        assert recovery.use(bea.id, code, NOW)
    now = utcnow()  # the command reads the clock
    db.session.execute(update(Profile).where(Profile.user_id == bea.id)
                       .values(twofa_locked_until=now + timedelta(minutes=5), twofa_disabled_at=now))
    db.session.execute(update(Profile).where(Profile.user_id == ana.id)
                       .values(twofa_locked_until=now - timedelta(seconds=1)))  # a lock that ran out
    carla = create_user()
    services.begin_enrollment(actor(carla), "Phone", now=now, enroll_minutes=10)
    services.begin_enrollment(actor(carla), "Old", now=now - timedelta(minutes=11), enroll_minutes=10)
    browsers.remember(ana.id, "Firefox on Linux", now, days=30)
    browsers.remember(ana.id, "Gone", now - timedelta(days=2), days=1)
    db.session.commit()

    report = _report(run)
    assert set(report) == STATUS_KEYS
    assert {key: value for key, value in report.items() if key != "generated_at"} == {
        "people_with_2fa": 2, "devices_active": 2, "enrollments_in_progress": 1, "enrollments_lapsed": 1,
        "recovery_codes_left": 13, "people_low_on_recovery_codes": 1, "people_locked_now": 1, "people_disabled": 1,
        "remembered_browsers_live": 1,
        "secrets": {"sealed_current_key": 4, "sealed_old_key": 0, "plain": 0, "unreadable": 0}}

    text = run("twofa", "status-report")
    assert text.exit_code == 0
    assert "people with two-step sign-in on: 2" in text.output
    assert "secrets: 4 under the current key, 0 under an old key, 0 plain, 0 unreadable" in text.output
    assert "@" not in text.output and "f:" not in text.output and "tenant" not in text.output


def test_the_detailed_report_counts_who_lacks_a_required_second_factor(run, create_user, create_tenant):
    acme = create_tenant(slug="acme", twofa_required_roles="owner,admin")
    free = create_tenant(slug="free")
    owner = create_user(tenant=acme, role=Role.OWNER)
    enroll(owner)
    create_user(tenant=acme, role=Role.ADMIN)  # lacking
    create_user(tenant=acme, role=Role.MEMBER)  # not required of members
    blocked = create_user(tenant=acme, role=Role.ADMIN)
    removed = create_user(tenant=acme, role=Role.ADMIN)
    db.session.execute(update(Membership).where(Membership.user_id == blocked.id).values(blocked_at=NOW)
                       .execution_options(all_tenants=True))
    db.session.execute(update(Membership).where(Membership.user_id == removed.id).values(deleted_at=NOW)
                       .execution_options(all_tenants=True))
    db.session.add(Membership(tenant_id=free.id, user_id=owner.id, role=Role.OWNER))
    create_user(tenant=free, role=Role.ADMIN)
    db.session.commit()

    report = _report(run, "--detailed")
    assert set(report) == STATUS_KEYS | {"tenants"}
    assert report["tenants"] == [
        {"tenant": "acme", "required_roles": ["admin", "owner"], "members": 3, "with_2fa": 1, "lacking_required": 1},
        {"tenant": "free", "required_roles": [], "members": 2, "with_2fa": 1, "lacking_required": 0},
    ]
    text = run("twofa", "status-report", "--detailed").output
    assert "tenant acme: 3 members, 1 with 2FA, 1 lacking it where required (required of: admin,owner)" in text
    assert "tenant free: 2 members, 1 with 2FA, 0 lacking it where required (required of: nobody)" in text
    assert "@" not in text


def test_metrics_snapshot_and_reset(run, create_user):
    ana, bea = create_user(), create_user()
    db.session.execute(update(Profile).where(Profile.user_id == ana.id).values(
        twofa_successes=5, twofa_failures=2, twofa_recovery_uses=1, twofa_rate_limited=0, twofa_failure_streak=2))
    db.session.execute(update(Profile).where(Profile.user_id == bea.id).values(
        twofa_successes=1, twofa_failures=0, twofa_recovery_uses=0, twofa_rate_limited=4))
    db.session.commit()
    expected = {"twofa_successes": 6, "twofa_failures": 2, "twofa_recovery_uses": 1, "twofa_rate_limited": 4}

    first = run("twofa", "metrics-snapshot")
    assert first.exit_code == 0 and json.loads(first.output) == expected
    assert json.loads(run("twofa", "metrics-snapshot").output) == expected  # reading changes nothing
    assert events("twofa.metrics_reset") == []

    reset = run("twofa", "metrics-snapshot", "--reset")
    assert reset.exit_code == 0 and json.loads(reset.output) == expected
    assert [e.details for e in events("twofa.metrics_reset")] == [expected]
    assert json.loads(run("twofa", "metrics-snapshot").output) == dict.fromkeys(expected, 0)
    db.session.expire_all()
    streak = db.session.scalar(select(Profile.twofa_failure_streak).where(Profile.user_id == ana.id))
    assert streak == 2  # the streak is state, not a counter: left alone


def test_remembered_browsers_count_only_live_ones(app, create_user):
    user = create_user()
    db.session.add(RememberedBrowser(user_id=user.id, digest="a" * 64, device="x", expires_at=NOW))
    db.session.commit()
    assert status(NOW)["remembered_browsers_live"] == 0
    assert status(NOW - timedelta(seconds=1))["remembered_browsers_live"] == 1
