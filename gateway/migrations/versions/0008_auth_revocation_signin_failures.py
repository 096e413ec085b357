"""Revocation that survives re-enabling, and failed sign-ins per client address.

- ``oauth_revoked_before``: per client and per user, the moment it was last
  disabled or deactivated; tokens issued before it stay revoked when the
  client or user is enabled again (issue 15, finding 15).
- ``auth_signin_failures``: one row per failed web sign-in with the client
  address and the account (if known), counted in sliding windows for the
  per-address throttle and the per (account, address) lockout (finding 13).
  Rows are deleted once no window counts them any more.

Revision ID: 0008
Revises: 0009 (written after 0009, whose head it followed; 0010 follows it)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_revoked_before",
        sa.Column("holder", sa.String(10), primary_key=True),
        sa.Column("holder_id", sa.String(40), primary_key=True),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "auth_signin_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_auth_signin_failures_address", "auth_signin_failures", ["address", "failed_at"]
    )
    op.create_index("ix_auth_signin_failures_failed_at", "auth_signin_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_signin_failures_failed_at", table_name="auth_signin_failures")
    op.drop_index("ix_auth_signin_failures_address", table_name="auth_signin_failures")
    op.drop_table("auth_signin_failures")
    op.drop_table("oauth_revoked_before")
