"""`flask permissions check`, `flask prune-expired-permissions`, `flask audit-orphan-permissions`,
`flask operators add|remove|list`."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app import audit
from app.core.cli_helpers import domain_errors_as_click, found, job_command
from app.extensions import db
from app.permissions.resolver import resolve
from app.permissions.services import orphan_rules, parse_resource
from app.tenants.services import by_slug
from app.users.models import User
from app.users.services import by_email
from jobs.permissions import prune_expired_permissions

permissions_cli = AppGroup("permissions", help="Permission checks.")
operators_cli = AppGroup("operators", help="Platform operators.")


@permissions_cli.command("check")
@click.argument("email")
@click.argument("tenant_slug")
@click.argument("action")
@click.option("--resource", default=None, help="TYPE:ID of one resource.")
def check(email: str, tenant_slug: str, action: str, resource: str | None) -> None:
    """Print ALLOW or DENY and the reason; exit 0 for allow, 1 for deny."""
    user = found(by_email(email), f"user with email {email}")
    tenant = found(by_slug(tenant_slug), f"tenant {tenant_slug}")
    if resource:
        with domain_errors_as_click():
            parse_resource(resource)
    decision = resolve(user, tenant, action, resource)
    click.echo(f"{'ALLOW' if decision.allowed else 'DENY'}: {decision.reason}")
    sys.exit(0 if decision.allowed else 1)


def register_permission_commands(app: Flask) -> None:
    """Add the permission commands to `app`."""
    app.cli.add_command(permissions_cli)
    app.cli.add_command(operators_cli)

    @job_command(app, "prune-expired-permissions", "{count} expired rules pruned")
    def prune_cmd() -> int:
        """Soft-delete rules whose expiry has passed (the resolver already ignores them)."""
        return prune_expired_permissions()

    @app.cli.command("audit-orphan-permissions")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def orphans_cmd(as_json: bool) -> None:
        """List rules pointing at unknown permissions, deleted users or missing resources (exit 1 if any)."""
        orphans = orphan_rules()
        if as_json:
            click.echo(json.dumps([o.__dict__ for o in orphans], indent=2))
        else:
            for o in orphans:
                click.echo(f"rule {o.rule_id} (tenant {o.tenant_id or 'global'}, {o.target}): {o.problem}")
            click.echo(f"{len(orphans)} orphan rules")
        sys.exit(1 if orphans else 0)


def _set_operator(email: str, value: bool) -> None:
    user = found(by_email(email), f"user with email {email}")
    user.is_operator = value  # the database bumps the user's policy version (migration 0004)
    audit.record("operator.granted" if value else "operator.revoked", target_type="user", target_id=user.id)
    db.session.commit()


@operators_cli.command("add")
@click.argument("email")
def add(email: str) -> None:
    """Make EMAIL a platform operator."""
    _set_operator(email, True)
    click.echo(f"{email} is now a platform operator")


@operators_cli.command("remove")
@click.argument("email")
def remove(email: str) -> None:
    """Take the operator flag from EMAIL."""
    _set_operator(email, False)
    click.echo(f"{email} is no longer a platform operator")


@operators_cli.command("list")
def list_operators() -> None:
    """Print every platform operator's email."""
    for email in db.session.scalars(select(User.email).where(User.is_operator).order_by(User.email)):
        click.echo(email)
