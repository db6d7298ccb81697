"""The users domain's commands: profiles, and the platform operator's account-wide block."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.core.cli_helpers import found
from app.core.mixins import utcnow
from app.extensions import db
from app.users.admin import set_account_status
from app.users.models import UserStatus
from app.users.services import by_email, sync_profiles

users_cli = AppGroup("users", help="Accounts, platform-wide (a tenant admin's block is the users page's).")


@users_cli.command("block")
@click.argument("email")
def block(email: str) -> None:
    """Block an account everywhere: its sessions end now, its tokens stop at their next request."""
    user = found(by_email(email), f"user with email {email}")
    ended = set_account_status(user, UserStatus.BLOCKED, now=utcnow())
    db.session.commit()
    click.echo(f"{user.email} blocked; {ended} sessions ended")


@users_cli.command("unblock")
@click.argument("email")
def unblock(email: str) -> None:
    """Let a blocked account sign in again."""
    user = found(by_email(email), f"user with email {email}")
    set_account_status(user, UserStatus.ACTIVE, now=utcnow())
    db.session.commit()
    click.echo(f"{user.email} is active")


def register_user_commands(app: Flask) -> None:
    """Add `flask users ...` and `flask sync-profiles`."""
    app.cli.add_command(users_cli)

    @app.cli.command("sync-profiles")
    def sync_profiles_cmd() -> None:
        """Create the missing profile of every account that has none (idempotent)."""
        made = sync_profiles()
        db.session.commit()
        click.echo(f"{made} profiles created")
