"""Command plumbing shared by every domain's `flask` commands: a service's refusal as a command error, a
look-up that must find something, the command that runs a periodic job by hand, and a walk over a big table in
batches.

Domains look their rows up through their own services (`users.services.by_email`, `tenants.services.by_slug`);
these helpers only turn "refused" and "not found" into what click prints, and commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from flask import Flask
from sqlalchemy import Row, Select

from app.core.errors import DomainError
from app.extensions import db

T = TypeVar("T")


@contextmanager
def domain_errors_as_click() -> Iterator[None]:
    """Run services inside: a `DomainError` rolls the session back and leaves as a `click.ClickException` with
    the error's message (exit status 1)."""
    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.detail or str(exc.title)) from exc


def found(value: T | None, what: str) -> T:
    """`value`, or a command error "no `what`" when the look-up found nothing."""
    if value is None:
        raise click.ClickException(f"no {what}")
    return value


def job_command(app: Flask, name: str, report: str) -> Callable[[Callable[[], int]], Callable[[], None]]:
    """Decorate a function that runs a periodic job and returns its count: it becomes `flask <name>` (its
    docstring the help), which commits and prints `report` with the count (`"{count} rules pruned"`). The
    schedule (jobs/cron.py) runs the same job, so a plain crontab can drive it too."""

    def decorate(run: Callable[[], int]) -> Callable[[], None]:
        @app.cli.command(name)
        @functools.wraps(run)
        def command() -> None:
            count = run()
            db.session.commit()
            click.echo(report.format(count=count))

        return command

    return decorate


def keyset_batches(statement: Select, key: Any, size: int = 500) -> Iterator[list[Row]]:
    """The rows of `statement` (whose first column is `key`, a unique, ordered column such as the primary key)
    in batches of at most `size`, ordered by `key`. Each batch is read on its own, after the previous one
    (`WHERE key > last`), and holds no cursor open: the caller may commit between batches, so walking a big
    table never holds one long transaction, and a row changed behind the walk is simply read as it is then."""
    last = None
    while True:
        query = statement.order_by(key).limit(size)
        if last is not None:
            query = query.where(key > last)
        rows = list(db.session.execute(query).all())
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1][0]
