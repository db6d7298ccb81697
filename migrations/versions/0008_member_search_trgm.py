"""member search: trigram indexes on lower(email) and lower(name) of user_account (PostgreSQL only)

The users list searches with `lower(col) LIKE '%text%'` (app.core.paging.contains_text), which no b-tree index
serves: with 100,000 members every search read the whole table twice (the count and the page), 130-340 ms at
p50 (bench/users_search.py, docs/performance.md). A pg_trgm GIN index on each expression answers a substring of
three characters or more from the index. SQLite keeps its scan (no such index type; it is the small-deployment
database). pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.

Revision ID: 0008_member_search_trgm
Revises: 0007_sessions
Create Date: 2026-12-10 18:00:00

"""
from alembic import op

revision = '0008_member_search_trgm'
down_revision = '0007_sessions'
branch_labels = None
depends_on = None

_INDEXES = {"ix_user_account_email_trgm": "email", "ix_user_account_name_trgm": "name"}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in _INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON user_account USING gin (lower({column}) gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
