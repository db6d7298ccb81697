"""`flask audit ...` commands."""

import json

import click
from flask.cli import AppGroup

from app.audit.services import chains, verify_chain

audit_cli = AppGroup("audit", help="Audit trail maintenance.")


@audit_cli.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(as_json: bool) -> None:
    """Recompute every audit chain's hashes; exit 1 if any chain is broken."""
    reports = [verify_chain(c) for c in chains()]
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in reports], indent=2))
    else:
        for r in reports:
            state = "ok" if r.ok else f"BROKEN at seq {r.broken_at_seq}"
            click.echo(f"{r.chain}: {r.events} events, {state}")
    if not all(r.ok for r in reports):
        raise SystemExit(1)
