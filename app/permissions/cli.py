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
from app.auth.services import normalise_email
from app.core.models import Tenant, User
from app.extensions import db
from app.permissions.resolver import resolve
from app.permissions.services import orphan_rules, parse_resource
from jobs.permissions import prune_expired_permissions

permissions_cli = AppGroup("permissions", help="Permission checks.")
operators_cli = AppGroup("operators", help="Platform operators.")


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    return user


@permissions_cli.command("check")
@click.argument("email")
@click.argument("tenant_slug")
@click.argument("action")
@click.option("--resource", default=None, help="TYPE:ID of one resource.")
def check(email: str, tenant_slug: str, action: str, resource: str | None) -> None:
    """Print ALLOW or DENY and the reason; exit 0 for allow, 1 for deny."""
    user = _user(email)
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None:
        raise click.ClickException(f"no tenant {tenant_slug}")
    if resource:
        try:
            parse_resource(resource)
        except Exception as exc:  # noqa: BLE001 (a DomainError; shown as a usage error)
            raise click.ClickException(str(exc)) from exc
    decision = resolve(user, tenant, action, resource)
    click.echo(f"{'ALLOW' if decision.allowed else 'DENY'}: {decision.reason}")
    sys.exit(0 if decision.allowed else 1)


def register_permission_commands(app: Flask) -> None:
    """Add the permission commands to `app`."""
    app.cli.add_command(permissions_cli)
    app.cli.add_command(operators_cli)

    @app.cli.command("prune-expired-permissions")
    def prune_cmd() -> None:
        """Soft-delete rules whose expiry has passed (the resolver already ignores them)."""
        count = prune_expired_permissions()
        db.session.commit()
        click.echo(f"{count} expired rules pruned")

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
    user = _user(email)
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
