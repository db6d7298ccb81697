"""The sessions domain's commands."""

from __future__ import annotations

import click
from flask import Flask

from app.extensions import db
from jobs.sessions import cleanup_sessions_logs


def register_session_commands(app: Flask) -> None:
    """Add `flask cleanup-sessions-logs`."""

    @app.cli.command("cleanup-sessions-logs")
    def cleanup_cmd() -> None:
        """End idle and expired sessions; delete old ended sessions and token usage past retention (the same job
        runs every 10 minutes under `rq cron`)."""
        counts = cleanup_sessions_logs()
        db.session.commit()
        click.echo(f"{counts['ended']} sessions ended, {counts['deleted']} old session rows deleted, "
                   f"{counts['usage_deleted']} token usage rows deleted")
