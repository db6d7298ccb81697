"""`flask tokens create|revoke|list` and `flask revoke-expired-tokens`."""

from __future__ import annotations

import re

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.cli_helpers import domain_errors_as_click, found, job_command
from app.core.fieldadapters import Checked
from app.extensions import db
from app.tenants.models import Tenant
from app.tenants.services import by_slug
from app.tokens import services
from app.tokens.models import ApiToken, Scope, check_token_name, check_token_status
from app.users.models import User
from app.users.services import by_email
from jobs.tokens import revoke_expired_tokens

tokens_cli = AppGroup("tokens", help="API tokens.")

NEVER = "never"
_DAYS_RE = re.compile(r"^([0-9]{1,5})d$")


class ExpiresIn(click.ParamType):
    """`30d` (whole days) or `never`; parsed to a number of days, or NEVER."""

    name = "Nd|never"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == NEVER:
            return value
        text = str(value).strip().lower()
        if text == NEVER:
            return NEVER
        match = _DAYS_RE.match(text)
        if match is None or int(match.group(1)) < 1:
            self.fail(f"{value!r} is not a lifetime: write whole days like 30d, or 'never'", param, ctx)
        return int(match.group(1))


@tokens_cli.command("create")
@click.option("--user", "email", required=True, help="The owner's email.")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), required=True,
              help="read, write or admin (never more than the owner may use).")
@click.option("--name", default="cli", show_default=True, type=Checked(check_token_name, "NAME"),
              help="A label for the token.")
@click.option("--expires-in", "expires_in", type=ExpiresIn(), default=None,
              help="Lifetime like 30d, or 'never' where the tenant's policy allows it. "
                   "Default: the tenant's default lifetime.")
def create(email: str, slug: str, scope: str, name: str, expires_in) -> None:
    """Create a token and print it (only the token, so scripts can capture it). It is shown this once."""
    owner, tenant = found(by_email(email), f"user with email {email}"), found(by_slug(slug), f"tenant {slug}")
    with domain_errors_as_click():
        issued = services.create_token(
            None, tenant, owner, name=name, scope=scope,
            expires_in_days=None if expires_in in (None, NEVER) else expires_in, no_expiry=expires_in == NEVER,
        )
    db.session.commit()
    click.echo(issued.secret)


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@click.option("--reason", default="revoked by command", show_default=True, help="Why (kept with the token).")
def revoke(token_id: int, reason: str) -> None:
    """Revoke token TOKEN_ID now (in any tenant); revoking twice changes nothing."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id).execution_options(all_tenants=True))
    if token is None:
        raise click.ClickException(f"no token {token_id}")
    if token.revoked_at is not None:
        click.echo(f"token {token_id} was already revoked ({token.revoke_reason})")
        return
    with domain_errors_as_click():
        services.revoke_token(None, token, reason=reason)
    db.session.commit()
    click.echo(f"token {token_id} revoked")


@tokens_cli.command("list")
@click.option("--tenant", "slug", default=None, help="Only this tenant's tokens.")
@click.option("--status", type=Checked(check_token_status, "STATUS"), default=None,
              help="Only tokens with this status (the API's and the pages' filter: the same check).")
def list_cmd(slug: str | None, status: str | None) -> None:
    """Every token (of every tenant, or of --tenant), newest first: id, tenant, owner, name, scope, status,
    hint, expiry. Never the secret."""
    query = (select(ApiToken, Tenant.slug, User.email).join(Tenant, Tenant.id == ApiToken.tenant_id)
             .join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
             .execution_options(all_tenants=True))
    if slug is not None:
        query = query.where(ApiToken.tenant_id == found(by_slug(slug), f"tenant {slug}").id)
    count = 0
    for token, tenant_slug, email in db.session.execute(query):
        token_status = token.status()
        if status is not None and token_status != status:
            continue
        expires = token.expires_at.strftime("%Y-%m-%d %H:%M") if token.expires_at else "never"
        click.echo(f"{token.id}\t{tenant_slug}\t{email}\t{token.name}\t{token.scope.value}\t{token_status}\t"
                   f"{token.hint}\t{expires}")
        count += 1
    click.echo(f"{count} tokens")


def register_token_commands(app: Flask) -> None:
    """Add the token commands to `app`."""
    app.cli.add_command(tokens_cli)

    @job_command(app, "revoke-expired-tokens", "{count} expired tokens revoked")
    def revoke_expired_cmd() -> int:
        """Mark expired tokens revoked (they are refused already); the same job runs every 15 minutes."""
        return revoke_expired_tokens()
