"""The users domain's commands."""

from __future__ import annotations

import click
from flask import Flask

from app.extensions import db
from app.users.services import sync_profiles


def register_user_commands(app: Flask) -> None:
    """Add `flask sync-profiles`."""

    @app.cli.command("sync-profiles")
    def sync_profiles_cmd() -> None:
        """Create the missing profile of every account that has none (idempotent)."""
        made = sync_profiles()
        db.session.commit()
        click.echo(f"{made} profiles created")
