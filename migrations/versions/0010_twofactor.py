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

    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('twofa_enabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('twofa_successes', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('twofa_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('twofa_recovery_uses', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('twofa_rate_limited', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('twofa_failure_streak', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('twofa_locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('twofa_disabled_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('twofa_required_roles', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('twofa_email_codes', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('reauth_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('reauth_at')
        batch_op.drop_column('stage')

    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('twofa_email_codes')
        batch_op.drop_column('twofa_required_roles')

    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.drop_column('twofa_disabled_at')
        batch_op.drop_column('twofa_locked_until')
        batch_op.drop_column('twofa_failure_streak')
        batch_op.drop_column('twofa_rate_limited')
        batch_op.drop_column('twofa_recovery_uses')
        batch_op.drop_column('twofa_failures')
        batch_op.drop_column('twofa_successes')
        batch_op.drop_column('twofa_enabled_at')

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
