"""Queries, webhook subscriptions and outbox, the free-text setting of organisations.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = True, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(
            sa.Column("free_text_allowed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "queries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("question", sa.String(80), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("direction", sa.String(40), nullable=False),
        sa.Column(
            "subject_id", sa.String(40), sa.ForeignKey("subjects.id"), nullable=False, index=True
        ),
        sa.Column(
            "consent_id", sa.String(40), sa.ForeignKey("consents.id"), nullable=True, index=True
        ),
        sa.Column(
            "asker_org_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("asker_user_id", sa.String(40), nullable=False, index=True),
        sa.Column("asker_client_id", sa.String(40), nullable=False),
        sa.Column("answerer_org_id", sa.String(40), nullable=True, index=True),
        sa.Column("adapter", sa.String(20), nullable=True),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("parameters_sealed", sa.Text(), nullable=True),
        sa.Column("note_sealed", sa.Text(), nullable=True),
        sa.Column("policy_version", sa.String(80), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        _when("deadline", nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at", index=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        _when("routed_at"),
        _when("answered_at"),
        _when("ended_at"),
        sa.Column("answer_sealed", sa.Text(), nullable=True),
        sa.Column("answer_sha256", sa.String(64), nullable=True),
        sa.Column("dropped_fields", sa.JSON(), nullable=False),
        _when("delivered_at"),
        _when("retention_until", index=True),
        sa.UniqueConstraint("asker_client_id", "idempotency_key", name="uq_query_idempotency"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "organisation_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("webhook_subscriptions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at", nullable=False, index=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        _when("created_at", nullable=False),
        _when("delivered_at"),
    )


def downgrade() -> None:
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_subscriptions")
    op.drop_table("queries")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("free_text_allowed")
