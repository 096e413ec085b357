"""Indexes for the lookups of every ask and of the scheduler, so latency stays flat as tables grow.

- ``ix_consents_subject_grantee`` and ``ix_consents_subject_jobcenter``: the
  consent check finds a person's consents with one party. With one index per
  column, SQLite's planner (no statistics) searched by the party alone and
  read every consent the municipality ever recorded (a second per ask at a
  million consents); with these it reads the person's few.
- ``ix_consents_due``: the scheduler looks for consents past their end every
  few seconds, in a write transaction. Searched by status alone (every active
  consent matches), it read them all and held the write lock meanwhile, which
  every ask then waited for; by status and end it reads only the due ones.
- ``ix_queries_asked_per_day``: the daily question limit counts what the same
  user asked about the same person since midnight. With only the index on
  ``subject_id`` that count read every query ever asked about the person;
  this index holds all four columns the count filters on, so it reads only
  today's entries and never the table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_consents_subject_grantee", "consents", ["subject_id", "grantee_id"]),
    ("ix_consents_subject_jobcenter", "consents", ["subject_id", "jobcenter_id"]),
    ("ix_consents_due", "consents", ["status", "valid_until"]),
    (
        "ix_queries_asked_per_day",
        "queries",
        ["subject_id", "asker_user_id", "created_at", "status"],
    ),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in _INDEXES:
        op.drop_index(name, table_name=table)
