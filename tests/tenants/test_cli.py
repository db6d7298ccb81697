"""`flask tenants create` and `flask demo seed`."""

from sqlalchemy import select

from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Role, User


def test_create_tenant_with_new_owner_from_stdin(app):
    result = app.test_cli_runner().invoke(
        args=["tenants", "create", "acme", "--name", "Acme", "--admin-email", "Boss@Acme.example.com",
              "--admin-password-stdin"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@acme.example.com"))
    assert user.check_password("a long enough password")
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.role == Role.OWNER


def test_create_tenant_for_existing_user_asks_no_password(app, create_user):
    user = create_user("existing@example.com")
    result = app.test_cli_runner().invoke(
        args=["tenants", "create", "second", "--name", "Second", "--admin-email", user.email])
    assert result.exit_code == 0, result.output


def test_create_tenant_refusals_are_clear(app, create_tenant):
    create_tenant(slug="taken")
    runner = app.test_cli_runner()
    for slug, expected in (("taken", "already exists"), ("Bad Slug!", "lower-case letters")):
        result = runner.invoke(args=["tenants", "create", slug, "--name", "X", "--admin-email", "a@example.com",
                                     "--admin-password-stdin"], input="a long enough password\n")
        assert result.exit_code == 1 and expected in result.output
    short = runner.invoke(args=["tenants", "create", "ok", "--name", "X", "--admin-email", "b@example.com",
                                "--admin-password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "ok")) is None


def test_demo_seed_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0 and "admin@demo.example.com" in first.output
    assert runner.invoke(args=["demo", "seed"]).output.startswith("tenants exist already")
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "demo")) is not None


def test_demo_seed_refused_in_production(app):
    app.config["HUBX_ENV"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["demo", "seed"])
    finally:
        app.config["HUBX_ENV"] = "development"
    assert result.exit_code == 1 and "refused in production" in result.output
