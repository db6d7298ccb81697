"""invites: the tenant's longest invite lifetime apart from the lifetime a new invite gets

`tenant.invite_ttl_hours` (default 72) stays the lifetime a new invite gets; `tenant.invite_max_ttl_hours`
(default 720, at most 720: 30 days) is the longest an issuer may ask for. A plain ADD COLUMN (no batch mode: on
SQLite a batch rebuild of `tenant` would drop the policy-version triggers of migration 0004).

Revision ID: 0012_invite_max_ttl
Revises: 0011_invites
Create Date: 2026-12-05 13:30:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012_invite_max_ttl'
down_revision = '0011_invites'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tenant', sa.Column('invite_max_ttl_hours', sa.Integer(), server_default='720', nullable=False))
    # a tenant that had raised its one lifetime keeps what it had allowed as its maximum
    op.execute("UPDATE tenant SET invite_max_ttl_hours = invite_ttl_hours WHERE invite_ttl_hours > 720")


def downgrade():
    op.drop_column('tenant', 'invite_max_ttl_hours')
