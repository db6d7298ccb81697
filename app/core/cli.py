"""Platform-wide maintenance commands: key rotation and retention."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import Text, select, type_coerce, update

from app.core.crypto import EncryptedText, crypto
from app.core.retention import purge_soft_deleted
from app.extensions import db


def encrypted_columns() -> list[tuple]:
    """(table, column) for every EncryptedText column of every model."""
    return [
        (table, column)
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]


def reencrypt(dry_run: bool = False, batch: int = 500) -> dict[str, int]:
    """Re-encrypt every value not already under the first key; returns counts per table.column."""
    box = crypto()
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        raw = type_coerce(column, Text)
        key = next(iter(table.primary_key.columns))
        changed = 0
        rows = db.session.execute(select(key, raw).where(column.is_not(None))).all()
        for row_id, ciphertext in rows:
            if box.is_current(ciphertext):
                continue
            changed += 1
            if not dry_run:
                db.session.execute(
                    update(table).where(key == row_id).values({column.name: type_coerce(box.rotate(ciphertext), Text)})
                )
            if changed % batch == 0 and not dry_run:
                db.session.commit()
        counts[f"{table.name}.{column.name}"] = changed
    if not dry_run:
        db.session.commit()
    return counts


def register_core_commands(app: Flask) -> None:
    """`flask crypto reencrypt` and `flask purge-deleted`."""

    @app.cli.group("crypto", help="Encryption key maintenance.")
    def crypto_cli() -> None:
        pass

    @crypto_cli.command("reencrypt")
    @click.option("--dry-run", is_flag=True, help="Count what would change; write nothing.")
    def reencrypt_cmd(dry_run: bool) -> None:
        """Re-encrypt every encrypted column under the first of ENCRYPTION_KEYS."""
        for name, count in reencrypt(dry_run=dry_run).items():
            click.echo(f"{name}: {count} {'to re-encrypt' if dry_run else 're-encrypted'}")

    @app.cli.command("purge-deleted")
    @click.option("--days", type=int, default=None, help="Retention in days (default SOFT_DELETE_RETENTION_DAYS).")
    def purge_deleted_cmd(days: int | None) -> None:
        """Hard-delete rows soft-deleted longer ago than the retention period."""
        counts = purge_soft_deleted(days)
        db.session.commit()
        for table, count in counts.items():
            click.echo(f"{table}: {count} purged")
