"""email_message: the outbox of email, bodies encrypted, with its delivery state (app.mail)

Revision ID: 0006_email_message
Revises: 0005_spent_form_nonce
Create Date: 2026-12-01 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_email_message'
down_revision = '0005_spent_form_nonce'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('email_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed', 'outbox', name='email_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_message'))
    )
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.create_index('ix_email_message_status_updated_at', ['status', 'updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_message_sent_at'), ['sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_message_sent_at'))
        batch_op.drop_index('ix_email_message_status_updated_at')

    op.drop_table('email_message')
