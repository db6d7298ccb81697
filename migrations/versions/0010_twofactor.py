"""two-factor authentication: authenticator apps, recovery codes, one-time codes by email, remembered browsers

`totp_device` keeps each app's secret sealed (app.twofactor.secrets) and the last 30-second step accepted (a code
of that step or an earlier one is a replay); `recovery_code` keeps salted slow hashes; `auth_code` keeps keyed
digests of emailed codes, bound to the session they were issued in; `remembered_browser` keeps digests of the
cookie a browser shows to skip the second step. The profile gains the counters and the lock of the second step,
the tenant its requirement by role, the session its stage (second step or enrollment pending) and its step-up.

Revision ID: 0010_twofactor
Revises: 0009_member_search_prefix
Create Date: 2026-12-05 08:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0010_twofactor'
down_revision = '0009_member_search_prefix'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=256), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_recovery_code_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    op.create_table('remembered_browser',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('device', sa.String(length=80), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_remembered_browser_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remembered_browser')),
    sa.UniqueConstraint('digest', name=op.f('uq_remembered_browser_digest'))
    )
    with op.batch_alter_table('remembered_browser', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remembered_browser_user_id'), ['user_id'], unique=False)

    op.create_table('totp_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.BigInteger(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_totp_device_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_totp_device'))
    )
    with op.batch_alter_table('totp_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_totp_device_user_id'), ['user_id'], unique=False)

    op.create_table('auth_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['user_session.id'], name=op.f('fk_auth_code_session_id_user_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_auth_code_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_code'))
    )
    with op.batch_alter_table('auth_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_code_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_code_user_id'), ['user_id'], unique=False)

    # Plain ADD COLUMN, not batch mode: on SQLite a batch that recreates a table drops its policy-version
    # triggers (migration 0004), and these columns need no table rebuild on either database.
    op.add_column('profile', sa.Column('twofa_enabled_at', sa.DateTime(timezone=True), nullable=True))
    for counter in ('twofa_successes', 'twofa_failures', 'twofa_recovery_uses', 'twofa_rate_limited',
                    'twofa_failure_streak'):
        op.add_column('profile', sa.Column(counter, sa.Integer(), server_default='0', nullable=False))
    op.add_column('profile', sa.Column('twofa_locked_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('profile', sa.Column('twofa_disabled_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('tenant', sa.Column('twofa_required_roles', sa.String(length=64), server_default='',
                                      nullable=False))
    op.add_column('tenant', sa.Column('twofa_email_codes', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.add_column('user_session', sa.Column('stage', sa.String(length=16), nullable=True))
    op.add_column('user_session', sa.Column('reauth_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+), not batch mode, for the reason given in upgrade().
    for column in ('reauth_at', 'stage'):
        op.drop_column('user_session', column)
    for column in ('twofa_email_codes', 'twofa_required_roles'):
        op.drop_column('tenant', column)
    for column in ('twofa_disabled_at', 'twofa_locked_until', 'twofa_failure_streak', 'twofa_rate_limited',
                   'twofa_recovery_uses', 'twofa_failures', 'twofa_successes', 'twofa_enabled_at'):
        op.drop_column('profile', column)

    with op.batch_alter_table('auth_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_code_user_id'))
        batch_op.drop_index(batch_op.f('ix_auth_code_session_id'))

    op.drop_table('auth_code')
    with op.batch_alter_table('totp_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_totp_device_user_id'))

    op.drop_table('totp_device')
    with op.batch_alter_table('remembered_browser', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remembered_browser_user_id'))

    op.drop_table('remembered_browser')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))

    op.drop_table('recovery_code')
