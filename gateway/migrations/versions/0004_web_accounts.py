"""Web accounts: password hashes of users, web sessions, sign-in counters, known persons.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _when("created_at"),
        _when("last_seen_at"),
        _when("expires_at", index=True),
    )
    op.create_table(
        "web_signin_counters",
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _when("last_failure_at", nullable=True),
        _when("locked_until", nullable=True),
    )
    op.create_table(
        "web_known_subjects",
        sa.Column(
            "organisation_id", sa.String(40), sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("subject_id", sa.String(40), sa.ForeignKey("subjects.id"), primary_key=True),
        _when("known_since"),
    )


def downgrade() -> None:
    op.drop_table("web_known_subjects")
    op.drop_table("web_signin_counters")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
