"""`flask invites create|list` and `flask expire-invites` (also the 15-minute job)."""

from __future__ import annotations

import json
import re

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.actor import Actor
from app.core.cli_helpers import domain_errors_as_click, found, job_command
from app.core.errors import Forbidden
from app.core.fieldadapters import Checked
from app.core.fields import FieldInvalid
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services
from app.invites.links import join_url
from app.invites.models import Invite, check_invite_email, check_invite_role, check_invite_status, check_ttl_hours
from app.permissions.resolver import resolve
from app.tenants.models import Tenant
from app.tenants.services import by_slug
from app.users.models import User
from app.users.services import by_email
from jobs.invites import expire_invites

invites_cli = AppGroup("invites", help="Invites and shareable links.")

_TTL_RE = re.compile(r"^([0-9]{1,6})\s*([hd]?)$")


class Ttl(click.ParamType):
    """A lifetime: `72h` (hours), `3d` (days) or a bare number of hours; then the one check of an invite's lifetime
    (`check_ttl_hours`: 1 to 720 hours), the same the pages and the API run."""

    name = "Nh|Nd"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            hours = value
        else:
            match = _TTL_RE.match(str(value).strip().lower())
            if match is None:
                self.fail(f"{value!r} is not a lifetime: write hours like 72h, or days like 3d", param, ctx)
            hours = int(match.group(1)) * (24 if match.group(2) == "d" else 1)
        try:
            return check_ttl_hours(hours)
        except FieldInvalid as exc:
            self.fail(str(exc.message), param, ctx)


@invites_cli.command("create")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--inviter", "inviter_email", required=True,
              help="Who invites (a member allowed invites.create; their role ceiling and daily limit apply).")
@click.option("--role", required=True, type=Checked(check_invite_role, "ROLE"),
              help="The role the new member gets (at most the inviter's own).")
@click.option("--email", default=None, type=Checked(check_invite_email, "EMAIL"),
              help="Only this address may accept it.")
@click.option("--ttl", type=Ttl(), default=None,
              help="Lifetime like 72h or 3d. Default and maximum: the tenant's invite lifetime.")
def create(slug: str, inviter_email: str, role: str, email: str | None, ttl: int | None) -> None:
    """Invite a person and print the join link and the code. They are shown this once (only a digest is kept)."""
    tenant = found(by_slug(slug), f"tenant {slug}")
    inviter = found(by_email(inviter_email), f"user with email {inviter_email}")
    with domain_errors_as_click():
        decision = resolve(inviter, tenant, "invites.create")
        if not decision.allowed:
            raise Forbidden(f"{inviter.email} may not invite people here: {decision.reason}")
        invite, code = services.issue(Actor(inviter, user_agent="flask invites create"), tenant, role=role,
                                      email=email, ttl_hours=ttl, now=utcnow())
    db.session.commit()
    click.echo(f"invite {invite.id} to {tenant.slug} as {invite.role.value}"
               f"{' for ' + invite.email if invite.email else ''}, expires "
               f"{invite.expires_at:%Y-%m-%d %H:%M} UTC (shown once: only a digest is kept)")
    click.echo(f"link: {join_url(code)}")
    click.echo(f"code: {code}")


def invite_row(invite: Invite, tenant_slug: str, inviter: str | None) -> dict:
    """An invite as `flask invites list --json` prints it: the hint, never the code or its digest."""
    return {"id": invite.id, "tenant": tenant_slug, "kind": invite.kind.value, "role": invite.role.value,
            "status": invite.status.value, "hint": invite.hint, "email": invite.email,
            "email_domain": invite.email_domain, "uses": invite.uses, "max_uses": invite.max_uses,
            "needs_approval": invite.needs_approval, "expires_at": invite.expires_at.isoformat(),
            "created_at": invite.created_at.isoformat(), "inviter": inviter}


@invites_cli.command("list")
@click.option("--tenant", "slug", default=None, help="Only this tenant's invites.")
@click.option("--status", type=Checked(check_invite_status, "STATUS"), default=None,
              help="pending, accepted, revoked or expired (the pages' and the API's filter: the same check).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list), for scripts.")
def list_cmd(slug: str | None, status: str | None, as_json: bool) -> None:
    """Every invite (of every tenant, or of --tenant), newest first. Never a code."""
    query = (select(Invite, Tenant.slug, User.email).join(Tenant, Tenant.id == Invite.tenant_id)
             .outerjoin(User, User.id == Invite.inviter_id).order_by(Invite.id.desc())
             .execution_options(all_tenants=True))
    if slug is not None:
        query = query.where(Invite.tenant_id == found(by_slug(slug), f"tenant {slug}").id)
    if status is not None:
        query = query.where(Invite.status == status)
    rows = [invite_row(invite, tenant_slug, inviter) for invite, tenant_slug, inviter in db.session.execute(query)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        who = row["email"] or (f"@{row['email_domain']}" if row["email_domain"] else "anyone with the code")
        click.echo(f"{row['id']}\t{row['tenant']}\t{row['kind']}\t{row['role']}\t{row['status']}\t{row['hint']}\t"
                   f"{who}\t{row['uses']}/{row['max_uses']}\t{row['expires_at'][:16]}\t{row['inviter'] or '-'}")
    click.echo(f"{len(rows)} invites")


def register_invite_commands(app: Flask) -> None:
    """Add the invite commands to `app`."""
    app.cli.add_command(invites_cli)

    @job_command(app, "expire-invites", "{count} invites expired")
    def expire_invites_cmd() -> int:
        """Mark pending invites past their time expired (they are refused already); the same job runs every 15
        minutes."""
        return expire_invites()
