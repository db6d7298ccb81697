"""invites: personal invites and shareable links, who joined by them, the issuers' daily counts

`invite` keeps only the keyed digest of each code with a display hint, its role, lifetime, seats (`max_uses`,
`uses`) and status; `invite_use` one row per person who joined by an invite (the membership it gave, NULL while
a link's join waits for approval); `invite_quota` one row per (tenant, issuer, the tenant's local day), the row
the daily limit locks. The tenant gains the longest lifetime of an invite and the daily limit per issuer.

Revision ID: 0011_invites
Revises: 0010_twofactor
Create Date: 2026-12-05 09:15:32

"""
from alembic import op
import sqlalchemy as sa

revision = '0011_invites'
down_revision = '0010_twofactor'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inviter_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('role', sa.Enum('owner', 'admin', 'manager', 'member', name='invite_role', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('kind', sa.Enum('personal', 'link', name='invite_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), server_default='0', nullable=False),
    sa.Column('email_domain', sa.String(length=253), nullable=True),
    sa.Column('needs_approval', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('ttl_hours', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'revoked', 'expired', name='invite_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['inviter_id'], ['user_account.id'], name=op.f('fk_invite_inviter_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_invite_revoked_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_invite_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite')),
    sa.UniqueConstraint('digest', name=op.f('uq_invite_digest'))
    )
    op.create_index(op.f('ix_invite_deleted_at'), 'invite', ['deleted_at'], unique=False)
    op.create_index(op.f('ix_invite_expires_at'), 'invite', ['expires_at'], unique=False)
    op.create_index(op.f('ix_invite_inviter_id'), 'invite', ['inviter_id'], unique=False)
    op.create_index(op.f('ix_invite_status'), 'invite', ['status'], unique=False)
    op.create_index(op.f('ix_invite_tenant_id'), 'invite', ['tenant_id'], unique=False)

    op.create_table('invite_quota',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issuer_id'], ['user_account.id'], name=op.f('fk_invite_quota_issuer_id_user_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_invite_quota_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_quota')),
    sa.UniqueConstraint('tenant_id', 'issuer_id', 'day', name=op.f('uq_invite_quota_tenant_id_issuer_id_day'))
    )
    op.create_index(op.f('ix_invite_quota_tenant_id'), 'invite_quota', ['tenant_id'], unique=False)

    op.create_table('invite_use',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invite_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invite_id'], ['invite.id'], name=op.f('fk_invite_use_invite_id_invite'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_invite_use_membership_id_membership'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_invite_use_tenant_id_tenant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_invite_use_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_use')),
    sa.UniqueConstraint('invite_id', 'user_id', name=op.f('uq_invite_use_invite_id_user_id'))
    )
    op.create_index(op.f('ix_invite_use_deleted_at'), 'invite_use', ['deleted_at'], unique=False)
    op.create_index(op.f('ix_invite_use_invite_id'), 'invite_use', ['invite_id'], unique=False)
    op.create_index(op.f('ix_invite_use_tenant_id'), 'invite_use', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_invite_use_user_id'), 'invite_use', ['user_id'], unique=False)

    # Plain ADD COLUMN, not batch mode: on SQLite a batch that recreates a table drops its policy-version
    # triggers (migration 0004).
    op.add_column('tenant', sa.Column('invite_ttl_hours', sa.Integer(), server_default='72', nullable=False))
    op.add_column('tenant', sa.Column('invite_daily_limit', sa.Integer(), server_default='5', nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+), not batch mode, for the reason given in upgrade().
    op.drop_column('tenant', 'invite_daily_limit')
    op.drop_column('tenant', 'invite_ttl_hours')
    op.drop_index(op.f('ix_invite_use_user_id'), table_name='invite_use')
    op.drop_index(op.f('ix_invite_use_tenant_id'), table_name='invite_use')
    op.drop_index(op.f('ix_invite_use_invite_id'), table_name='invite_use')
    op.drop_index(op.f('ix_invite_use_deleted_at'), table_name='invite_use')

    op.drop_table('invite_use')
    op.drop_index(op.f('ix_invite_quota_tenant_id'), table_name='invite_quota')

    op.drop_table('invite_quota')
    op.drop_index(op.f('ix_invite_tenant_id'), table_name='invite')
    op.drop_index(op.f('ix_invite_status'), table_name='invite')
    op.drop_index(op.f('ix_invite_inviter_id'), table_name='invite')
    op.drop_index(op.f('ix_invite_expires_at'), table_name='invite')
    op.drop_index(op.f('ix_invite_deleted_at'), table_name='invite')

    op.drop_table('invite')
