"""The migrations build exactly the schema the models declare (the suite's database is built by them)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_one_head(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    assert isinstance(app.extensions["migrate"].migrate, Migrate)


def test_every_policy_version_trigger_survives_the_migrations(app):
    """A later migration that rebuilds a table (alembic's batch mode on SQLite) drops its triggers: the policy
    version would stop following that table's changes (0010 once did this to `tenant`)."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            names = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
        else:
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    expected = {"policy_bump_profile_ins", "policy_bump_profile_upd", "policy_bump_profile_del",
                "policy_bump_user_upd", "policy_bump_membership_ins", "policy_bump_membership_del",
                "policy_bump_membership_upd", "policy_bump_tenant_upd"}
    assert expected <= names, f"missing triggers: {sorted(expected - names)}"
