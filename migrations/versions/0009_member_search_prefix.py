"""member search: b-tree pattern indexes on lower(email) and lower(name) of user_account (PostgreSQL only)

A search of one or two characters matches the start of an email or a name (app/users/search.py): a trigram
index (migration 0008) cannot answer a pattern shorter than three characters, so `lower(col) LIKE 'e%'` needs a
b-tree index with `text_pattern_ops` (which serves LIKE prefixes whatever the database's collation). SQLite
keeps its scan, as for 0008.

Revision ID: 0009_member_search_prefix
Revises: 0008_member_search_trgm
Create Date: 2026-12-04 23:00:00

"""
from alembic import op

revision = '0009_member_search_prefix'
down_revision = '0008_member_search_trgm'
branch_labels = None
depends_on = None

_INDEXES = {"ix_user_account_email_prefix": "email", "ix_user_account_name_prefix": "name"}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, column in _INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON user_account (lower({column}) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
