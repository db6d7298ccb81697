"""policy version triggers: the database bumps a user's policy version whenever their status, lock, identity,
operator flag, memberships or a tenant they belong to change

A cached policy (app.permissions.resolver) is trusted for as long as the user's `policy_version` row is
unchanged. Rule changes bump it in the application (bump_policy_version, same transaction); the changes below
are made by several domains (users, sessions, tenants, commands, operators at a SQL prompt), so the database
bumps it itself: no code path can forget, and a bearer token checks its owner with one row read per request.

Revision ID: 0004_policy_version_triggers
Revises: 0003_tokens
Create Date: 2026-11-21 15:20:00

"""
from alembic import op


revision = '0004_policy_version_triggers'
down_revision = '0003_tokens'
branch_labels = None
depends_on = None

# (trigger name, table, event, the user ids to bump as a SELECT over NEW/OLD)
# A user id is only bumped while its user_account row exists: a cascade from deleting the user must not
# re-create the version row it is deleting (the FK would refuse it).
_LIVE = "EXISTS (SELECT 1 FROM user_account WHERE user_account.id = {uid})"
TRIGGERS = [
    ("policy_bump_profile_ins", "profile", "INSERT", ["NEW.user_id"]),
    ("policy_bump_profile_upd", "profile", "UPDATE OF status, locked_until, user_id", ["NEW.user_id", "OLD.user_id"]),
    ("policy_bump_profile_del", "profile", "DELETE", ["OLD.user_id"]),
    ("policy_bump_user_upd", "user_account", "UPDATE OF email, name, is_operator, deleted_at", ["NEW.id"]),
    ("policy_bump_membership_ins", "membership", "INSERT", ["NEW.user_id"]),
    ("policy_bump_membership_upd", "membership", "UPDATE OF role, deleted_at, tenant_id, user_id",
     ["NEW.user_id", "OLD.user_id"]),
    ("policy_bump_membership_del", "membership", "DELETE", ["OLD.user_id"]),
]
# A tenant's facts (name, slug, locale, zone, deletion) are compiled into its members' policies, and into
# operators' (who may hold tokens where they are not members).
TENANT_TRIGGER = ("policy_bump_tenant_upd", "tenant", "UPDATE OF slug, name, default_locale, timezone, deleted_at")
TENANT_USERS = ("SELECT user_id AS uid FROM membership WHERE tenant_id = NEW.id "
                "UNION SELECT id AS uid FROM user_account WHERE is_operator")


def _sqlite_bump(select_ids: str) -> str:
    # INSERT ... SELECT ... WHERE ... ON CONFLICT: the WHERE is what lets SQLite parse the upsert after a SELECT.
    return (f"INSERT INTO policy_version (user_id, version) SELECT uid, 1 FROM ({select_ids}) "
            f"WHERE {_LIVE.format(uid='uid')} "
            "ON CONFLICT (user_id) DO UPDATE SET version = version + 1;")


def _ids(columns: list[str]) -> str:
    return " UNION ".join(f"SELECT {c} AS uid" for c in columns)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION hubx_bump_policy_versions(uids integer[]) RETURNS void LANGUAGE sql AS $$
                INSERT INTO policy_version (user_id, version)
                SELECT DISTINCT u, 1 FROM unnest(uids) AS u
                WHERE u IS NOT NULL AND EXISTS (SELECT 1 FROM user_account WHERE user_account.id = u)
                ON CONFLICT (user_id) DO UPDATE SET version = policy_version.version + 1
            $$""")
        op.execute("""
            CREATE FUNCTION hubx_policy_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_TABLE_NAME = 'tenant' THEN
                    PERFORM hubx_bump_policy_versions(ARRAY(
                        SELECT user_id FROM membership WHERE tenant_id = NEW.id
                        UNION SELECT id FROM user_account WHERE is_operator));
                ELSIF TG_TABLE_NAME = 'user_account' THEN
                    PERFORM hubx_bump_policy_versions(ARRAY[NEW.id]);
                ELSIF TG_OP = 'INSERT' THEN
                    PERFORM hubx_bump_policy_versions(ARRAY[NEW.user_id]);
                ELSIF TG_OP = 'DELETE' THEN
                    PERFORM hubx_bump_policy_versions(ARRAY[OLD.user_id]);
                ELSE
                    PERFORM hubx_bump_policy_versions(ARRAY[NEW.user_id, OLD.user_id]);
                END IF;
                RETURN NULL;
            END
            $$""")
        for name, table, event, _columns in [*TRIGGERS, (*TENANT_TRIGGER, None)]:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION hubx_policy_bump()")
    else:
        for name, table, event, columns in TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_sqlite_bump(_ids(columns))} END")
        name, table, event = TENANT_TRIGGER
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_sqlite_bump(TENANT_USERS)} END")


def downgrade():
    dialect = op.get_bind().dialect.name
    for name, table, *_ in [*TRIGGERS, TENANT_TRIGGER]:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS hubx_policy_bump()")
        op.execute("DROP FUNCTION IF EXISTS hubx_bump_policy_versions(integer[])")
