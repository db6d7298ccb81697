"""`flask twofa reencrypt|reencrypt-secrets|status-report|metrics-snapshot`: the second factor's key rotation,
its state in numbers, and the counters for a metrics scraper. No command prints a secret or an email address.

Key rotation (README, *Key rotation*): put a new key first in TWOFA_FERNET_KEYS (ENCRYPTION_KEYS when unset),
restart, `flask twofa reencrypt`, check `flask twofa status-report` shows no secret under an old key, remove
the old key, restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, or_, select, text, update

from app import audit
from app.core.cli_helpers import keyset_batches
from app.core.mixins import utcnow
from app.extensions import db
from app.tenants.models import Tenant
from app.twofactor import recovery, secrets
from app.twofactor.models import RecoveryCode, RememberedBrowser, TotpDevice
from app.users.models import Membership, Profile, User

twofa_cli = AppGroup("twofa", help="Two-step sign-in: key rotation, status, metrics.")

BATCH = 500
#: the profile counters `metrics-snapshot` reports (and zeroes with --reset)
COUNTERS = ("twofa_successes", "twofa_failures", "twofa_recovery_uses", "twofa_rate_limited")
#: the forms a stored secret can be in (status-report's `secrets` keys)
FORMS = ("sealed_current_key", "sealed_old_key", "plain", "unreadable")


# -- resealing -----------------------------------------------------------------------------------------------------

@dataclass
class ResealReport:
    """What a resealing pass found. `resealed` counts what was (with --dry-run: would be) written."""

    examined: int = 0
    resealed: int = 0
    already_current: int = 0
    #: rows this pass was not asked to touch (plain ones while TWOFA_ENCRYPT_SECRETS is off, old-key ones with
    #: --unencrypted-only, rows changed by someone else while the pass ran)
    skipped: int = 0
    #: ids of devices whose secret no key opens (never the secret)
    unreadable: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"examined": self.examined, "resealed": self.resealed, "already_current": self.already_current,
                "skipped": self.skipped, "unreadable": len(self.unreadable)}


def reseal_secrets(*, dry_run: bool, plain: bool, old_key: bool, force: bool = False, limit: int | None = None,
                   batch: int = BATCH) -> ResealReport:
    """Walk every TotpDevice secret in batches of `batch` (a commit after each, unless `dry_run`) and seal under
    the first key the plain ones (`plain`), those sealed under an older key (`old_key`) and, with `force`, those
    already under the first key. At most `limit` rows are written. A secret no key opens is reported, not
    touched. A row is written only if its secret is still the one read (a conditional UPDATE), so a device
    enrolled, removed or resealed meanwhile is left alone."""
    report = ResealReport()
    statement = select(TotpDevice.id, TotpDevice.secret)
    for rows in keyset_batches(statement, TotpDevice.id, batch):
        for device_id, stored in rows:
            if limit is not None and report.resealed >= limit:
                break
            report.examined += 1
            if stored.startswith(secrets.PLAIN):
                wanted = plain
            elif secrets.is_current(stored):
                if not force:
                    report.already_current += 1
                    continue
                wanted = True
            else:
                wanted = old_key
            if not wanted:
                report.skipped += 1
                continue
            try:
                fresh = secrets.reseal(stored)
            except secrets.SecretUnreadable:
                report.unreadable.append(device_id)
                continue
            if dry_run:
                report.resealed += 1
                continue
            written = db.session.execute(
                update(TotpDevice).where(TotpDevice.id == device_id, TotpDevice.secret == stored)
                .values(secret=fresh).execution_options(synchronize_session=False)).rowcount
            if written:
                report.resealed += 1
            else:
                report.skipped += 1
        if not dry_run:
            db.session.commit()
        if limit is not None and report.resealed >= limit:
            break
    return report


def _finish_reseal(report: ResealReport, *, command: str, dry_run: bool, options: dict) -> None:
    """Audit a real pass, print the counts and the unreadable devices, and exit 1 if there were any."""
    if not dry_run:
        audit.record("twofa.secrets_reencrypted", target_type="totp_device",
                     details={"count": report.resealed, "unreadable": len(report.unreadable), "command": command,
                              **options})
        db.session.commit()
    else:
        db.session.rollback()
    verb = "would reseal" if dry_run else "resealed"
    counts = report.counts()
    click.echo(f"{counts['examined']} examined, {counts['resealed']} {verb}, {counts['already_current']} already "
               f"under the current key, {counts['skipped']} skipped, {counts['unreadable']} unreadable")
    for device_id in report.unreadable:
        click.echo(f"device {device_id}: no key opens its secret (left as it is)", err=True)
    if report.unreadable:
        raise SystemExit(1)


@twofa_cli.command("reencrypt")
@click.option("--dry-run", is_flag=True, help="Count what would change; write nothing.")
@click.option("--force", is_flag=True, help="Reseal every secret, also those already under the first key.")
def reencrypt_cmd(dry_run: bool, force: bool) -> None:
    """Seal every authenticator secret under the first of TWOFA_FERNET_KEYS (or ENCRYPTION_KEYS), in batches
    of 500 with a commit after each; idempotent. A secret no key opens is named by device id and makes the
    command exit 1 once the others are done. Plain secrets are sealed too, unless TWOFA_ENCRYPT_SECRETS is off."""
    report = reseal_secrets(dry_run=dry_run, plain=current_app.config["TWOFA_ENCRYPT_SECRETS"], old_key=True,
                            force=force)
    _finish_reseal(report, command="reencrypt", dry_run=dry_run, options={"force": force})


@twofa_cli.command("reencrypt-secrets")
@click.option("--dry-run", is_flag=True, help="Count what would change; write nothing.")
@click.option("--unencrypted-only", is_flag=True, help="Only seal plain secrets; leave old-key ones.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Write at most N rows.")
def reencrypt_secrets_cmd(dry_run: bool, unencrypted_only: bool, limit: int | None) -> None:
    """Seal the secrets stored plain (written while TWOFA_ENCRYPT_SECRETS was off) and, without
    --unencrypted-only, reseal those under an old key. Refused (exit 2) while TWOFA_ENCRYPT_SECRETS is off."""
    if not current_app.config["TWOFA_ENCRYPT_SECRETS"]:
        click.echo("TWOFA_ENCRYPT_SECRETS is off: turn it on (and restart) before sealing secrets.", err=True)
        raise SystemExit(2)
    report = reseal_secrets(dry_run=dry_run, plain=True, old_key=not unencrypted_only, limit=limit)
    _finish_reseal(report, command="reencrypt-secrets", dry_run=dry_run,
                   options={"unencrypted_only": unencrypted_only, "limit": limit})


# -- status ----------------------------------------------------------------------------------------------------------

def secret_form(stored: str) -> str:
    """Which of FORMS a stored secret is in."""
    if stored.startswith(secrets.PLAIN):
        return "plain"
    if secrets.is_current(stored):
        return "sealed_current_key"
    try:
        secrets.unseal(stored)
    except secrets.SecretUnreadable:
        return "unreadable"
    return "sealed_old_key"


def _count(statement) -> int:
    return db.session.scalar(statement) or 0


def status(now: datetime, *, detailed: bool = False) -> dict:
    """The second factor's state in numbers (people are live accounts); with `detailed`, one row per live
    tenant: its members (live, unblocked memberships), those with a second factor, and those without one where
    the tenant requires it of their role."""
    people = select(func.count()).select_from(Profile).join(User, User.id == Profile.user_id)
    enroll_since = now - timedelta(minutes=current_app.config["TWOFA_ENROLL_MINUTES"])
    unused = (select(RecoveryCode.user_id, func.count().label("left"))
              .where(RecoveryCode.used_at.is_(None)).group_by(RecoveryCode.user_id).subquery())
    forms = dict.fromkeys(FORMS, 0)
    for rows in keyset_batches(select(TotpDevice.id, TotpDevice.secret), TotpDevice.id, BATCH):
        for _, stored in rows:
            forms[secret_form(stored)] += 1
    report = {
        "generated_at": now.isoformat(timespec="seconds"),
        "people_with_2fa": _count(people.where(Profile.twofa_enabled_at.is_not(None))),
        "devices_active": _count(select(func.count()).select_from(TotpDevice)
                                 .where(TotpDevice.confirmed_at.is_not(None))),
        "enrollments_in_progress": _count(select(func.count()).select_from(TotpDevice).where(
            TotpDevice.confirmed_at.is_(None), TotpDevice.created_at >= enroll_since)),
        "enrollments_lapsed": _count(select(func.count()).select_from(TotpDevice).where(
            TotpDevice.confirmed_at.is_(None), TotpDevice.created_at < enroll_since)),
        "recovery_codes_left": _count(select(func.count()).select_from(RecoveryCode)
                                      .where(RecoveryCode.used_at.is_(None))),
        "people_low_on_recovery_codes": _count(
            people.outerjoin(unused, unused.c.user_id == Profile.user_id)
            .where(Profile.twofa_enabled_at.is_not(None), func.coalesce(unused.c.left, 0) <= recovery.LOW)),
        "people_locked_now": _count(people.where(Profile.twofa_locked_until > now)),
        "people_disabled": _count(people.where(Profile.twofa_disabled_at.is_not(None))),
        "remembered_browsers_live": _count(select(func.count()).select_from(RememberedBrowser)
                                           .where(RememberedBrowser.expires_at > now)),
        "secrets": forms,
    }
    if detailed:
        report["tenants"] = _tenant_rows()
    return report


def _tenant_rows() -> list[dict]:
    tenants = db.session.execute(select(Tenant.id, Tenant.slug, Tenant.twofa_required_roles)
                                 .where(Tenant.deleted_at.is_(None)).order_by(Tenant.slug)).all()
    counts = db.session.execute(
        select(Membership.tenant_id, Membership.role, func.count(), func.count(Profile.twofa_enabled_at))
        .join(User, User.id == Membership.user_id)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(Membership.deleted_at.is_(None), Membership.blocked_at.is_(None), User.deleted_at.is_(None))
        .group_by(Membership.tenant_id, Membership.role)
        .execution_options(all_tenants=True)).all()
    by_tenant: dict[int, list[tuple[str, int, int]]] = {}
    for tenant_id, role, members, with_2fa in counts:
        by_tenant.setdefault(tenant_id, []).append((str(role), members, with_2fa))
    rows = []
    for tenant_id, slug, required in tenants:
        roles = sorted(part for part in required.split(",") if part)
        found = by_tenant.get(tenant_id, [])
        rows.append({
            "tenant": slug,
            "required_roles": roles,
            "members": sum(members for _, members, _ in found),
            "with_2fa": sum(with_2fa for _, _, with_2fa in found),
            "lacking_required": sum(members - with_2fa for role, members, with_2fa in found if role in roles),
        })
    return rows


_LABELS = {
    "people_with_2fa": "people with two-step sign-in on",
    "devices_active": "authenticator apps in use",
    "enrollments_in_progress": "enrollments in progress",
    "enrollments_lapsed": "enrollments lapsed (removed at the person's next enrollment)",
    "recovery_codes_left": "unused recovery codes",
    "people_low_on_recovery_codes": f"people with {recovery.LOW} or fewer recovery codes left",
    "people_locked_now": "people locked out of the second step now",
    "people_disabled": "people whose app codes are disabled (failures)",
    "remembered_browsers_live": "remembered browsers",
}


@twofa_cli.command("status-report")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--detailed", is_flag=True, help="Add one row per tenant (members, with 2FA, lacking it).")
def status_report_cmd(as_json: bool, detailed: bool) -> None:
    """Count people with two-step sign-in, apps, enrollments, recovery codes, locks, remembered browsers and the
    form of every stored secret (under the current key, an old key, plain, unreadable). No secret, no email."""
    report = status(utcnow(), detailed=detailed)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    for key, label in _LABELS.items():
        click.echo(f"{label}: {report[key]}")
    forms = report["secrets"]
    click.echo(f"secrets: {forms['sealed_current_key']} under the current key, {forms['sealed_old_key']} under an "
               f"old key, {forms['plain']} plain, {forms['unreadable']} unreadable")
    for row in report.get("tenants", []):
        required = ",".join(row["required_roles"]) or "nobody"
        click.echo(f"tenant {row['tenant']}: {row['members']} members, {row['with_2fa']} with 2FA, "
                   f"{row['lacking_required']} lacking it where required (required of: {required})")


# -- metrics ---------------------------------------------------------------------------------------------------------

@twofa_cli.command("metrics-snapshot")
@click.option("--reset", is_flag=True, help="Zero the counters after printing them (audited).")
def metrics_snapshot_cmd(reset: bool) -> None:
    """Print the sums of every profile's second-step counters as JSON (successes, failures, recovery codes
    used, attempts refused by the rate limit). With --reset, zero them in one UPDATE after printing; on
    PostgreSQL the profile table is locked against writes meanwhile, so no count is lost between the two."""
    if reset and db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE profile IN SHARE ROW EXCLUSIVE MODE"))
    columns = [getattr(Profile, name) for name in COUNTERS]
    sums = db.session.execute(select(*(func.coalesce(func.sum(c), 0) for c in columns))).one()
    snapshot = {name: int(value) for name, value in zip(COUNTERS, sums, strict=True)}
    click.echo(json.dumps(snapshot, sort_keys=True))
    if not reset:
        db.session.rollback()
        return
    db.session.execute(update(Profile).where(or_(*(c != 0 for c in columns)))
                       .values(dict.fromkeys(COUNTERS, 0)).execution_options(synchronize_session=False))
    audit.record("twofa.metrics_reset", target_type="profile", details=snapshot)
    db.session.commit()


def register_twofa_commands(app: Flask) -> None:
    """Add `flask twofa ...` to `app`."""
    app.cli.add_command(twofa_cli)
