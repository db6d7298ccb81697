"""spent_form_nonce: one-time form nonces that have been acted on (app.core.formnonce)

Revision ID: 0005_spent_form_nonce
Revises: 0004_policy_version_triggers
Create Date: 2026-11-28 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005_spent_form_nonce'
down_revision = '0004_policy_version_triggers'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spent_form_nonce',
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('spent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_spent_form_nonce'))
    )
    with op.batch_alter_table('spent_form_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_form_nonce_spent_at'), ['spent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('spent_form_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_form_nonce_spent_at'))

    op.drop_table('spent_form_nonce')
