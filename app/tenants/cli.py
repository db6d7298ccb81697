"""`flask tenants create` and `flask demo seed`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.core.cli_helpers import domain_errors_as_click
from app.core.fieldadapters import Checked
from app.core.fields import check_email, check_password, check_tenant_name
from app.extensions import db
from app.tenants.models import Tenant
from app.tenants.services import add_member, create_tenant
from app.users.models import Role
from app.users.services import by_email, create_user

tenants_cli = AppGroup("tenants", help="Tenant administration.")
demo_cli = AppGroup("demo", help="Demo data for local use.")

DEMO_PASSWORD = "hubx-demo-password"  # noqa: S105 (documented demo credential, refused in production)
DEMO_ADMIN = "admin@demo.example.com"
DEMO_MEMBER = "member@demo.example.com"


@tenants_cli.command("create")
@click.argument("slug")  # checked by the service (check_slug), which also refuses one that is taken
@click.option("--name", required=True, type=Checked(check_tenant_name), help="Display name.")
@click.option("--admin-email", required=True, type=Checked(check_email),
              help="Owner's email (an existing user, or a new one).")
@click.option("--admin-password-stdin", is_flag=True, help="Read the new owner's password from stdin.")
def create(slug: str, name: str, admin_email: str, admin_password_stdin: bool) -> None:
    """Create tenant SLUG with its owner (stands in for the Core wizard)."""
    password = None
    if by_email(admin_email) is None:
        if admin_password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password for the new owner", hide_input=True, confirmation_prompt=True,
                                    type=Checked(check_password))
    with domain_errors_as_click():
        tenant, user = create_tenant(slug, name, admin_email=admin_email, admin_password=password)
    db.session.commit()
    click.echo(f"created tenant {tenant.slug} (id {tenant.id}); owner {user.email}")


@demo_cli.command("seed")
def seed() -> None:
    """Create the demo tenants and users when the database has no tenant yet."""
    if current_app.config["HUBX_ENV"] == "production":
        raise click.ClickException("demo data is refused in production")
    if db.session.scalar(select(Tenant.id).limit(1).execution_options(include_deleted=True)) is not None:
        click.echo("tenants exist already; demo seed skipped")
        return
    demo, admin = create_tenant("demo", "Demo Ltda.", admin_email=DEMO_ADMIN, admin_password=DEMO_PASSWORD)
    other, _ = create_tenant("acme", "Acme S.A.", admin_email="owner@acme.example.com", admin_password=DEMO_PASSWORD)
    add_member(other, admin, Role.ADMIN)
    member = create_user(DEMO_MEMBER, DEMO_PASSWORD, name="Maria Membro")
    add_member(demo, member, Role.MEMBER)
    db.session.commit()
    click.echo(f"demo tenants: {demo.slug}, {other.slug}; sign in as {DEMO_ADMIN} / {DEMO_PASSWORD} (owner of "
               f"{demo.slug}) or {DEMO_MEMBER} / {DEMO_PASSWORD} (a plain member of {demo.slug})")
