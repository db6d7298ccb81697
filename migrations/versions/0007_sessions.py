"""sessions and sign-in protection: server-side sessions, password-reset links, per-tenant membership block,
the person's time zone, a tenant's stricter lockout threshold

`user_session` keeps one row per signed-in browser: only a digest of the random id the cookie carries, the IP and
user agent encrypted. `password_reset` keeps single-use reset links as digests. A tenant admin's block suspends one
membership (`membership.blocked_at`), so the policy-version trigger on membership now fires on it too.

Revision ID: 0007_sessions
Revises: 0006_email_message
Create Date: 2026-12-04 18:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_sessions'
down_revision = '0006_email_message'
branch_labels = None
depends_on = None

_OLD_EVENT = "UPDATE OF role, deleted_at, tenant_id, user_id"
_NEW_EVENT = "UPDATE OF role, deleted_at, blocked_at, tenant_id, user_id"
_TRIGGER = "policy_bump_membership_upd"
_SQLITE_BODY = ("INSERT INTO policy_version (user_id, version) SELECT uid, 1 FROM "
                "(SELECT NEW.user_id AS uid UNION SELECT OLD.user_id AS uid) "
                "WHERE EXISTS (SELECT 1 FROM user_account WHERE user_account.id = uid) "
                "ON CONFLICT (user_id) DO UPDATE SET version = version + 1;")


def _membership_trigger(event: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER} ON membership")
        op.execute(f"CREATE TRIGGER {_TRIGGER} AFTER {event} ON membership "
                   "FOR EACH ROW EXECUTE FUNCTION hubx_policy_bump()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_TRIGGER}")
        op.execute(f"CREATE TRIGGER {_TRIGGER} AFTER {event} ON membership BEGIN {_SQLITE_BODY} END")


def upgrade():
    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.Text(), nullable=True),
    sa.Column('user_agent', sa.Text(), nullable=True),
    sa.Column('device', sa.String(length=80), nullable=False),
    sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_user_session_tenant_id_tenant'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('digest', name=op.f('uq_user_session_digest'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_session_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_session_last_seen_at'), ['last_seen_at'], unique=False)

    op.create_table('password_reset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_password_reset_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'],
                            name=op.f('fk_password_reset_requested_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset')),
    sa.UniqueConstraint('digest', name=op.f('uq_password_reset_digest'))
    )
    with op.batch_alter_table('password_reset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lock_after_failures', sa.Integer(), nullable=True))
    _membership_trigger(_NEW_EVENT)


def downgrade():
    _membership_trigger(_OLD_EVENT)
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('lock_after_failures')
    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.drop_column('timezone')
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('blocked_at')
    op.drop_table('password_reset')
    op.drop_table('user_session')
