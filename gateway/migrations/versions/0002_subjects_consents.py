"""Subjects (sealed identity, blind index) and consents.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("identity_index", sa.String(64), nullable=False, unique=True),
        sa.Column("identity_sealed", sa.Text(), nullable=False),
        sa.Column("customer_number_sealed", sa.Text(), nullable=True),
        sa.Column("municipality_key", sa.String(12), nullable=True),
        sa.Column(
            "registered_by", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        _when("created_at"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.String(40), sa.ForeignKey("consents.id"), nullable=True),
        sa.Column(
            "subject_id", sa.String(40), sa.ForeignKey("subjects.id"), nullable=False, index=True
        ),
        sa.Column(
            "grantee_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "jobcenter_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("named_users", sa.JSON(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("explicit_special_categories", sa.JSON(), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("use_limits", sa.JSON(), nullable=False),
        _when("valid_from"),
        _when("valid_until", index=True),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("text_version", sa.String(40), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("evidence_channel", sa.String(20), nullable=False),
        sa.Column("evidence_sealed", sa.Text(), nullable=True),
        sa.Column("attachment_sha256", sa.String(64), nullable=True),
        sa.Column("attachment_media_type", sa.String(60), nullable=True),
        sa.Column("attachment_sealed", sa.Text(), nullable=True),
        sa.Column("recorded_by_user", sa.String(40), nullable=True),
        sa.Column("recorded_by_client", sa.String(40), nullable=False),
        _when("recorded_at"),
        _when("activated_at", nullable=True),
        _when("ended_at", nullable=True),
        sa.Column("revocation_channel", sa.String(30), nullable=True),
        sa.Column("revoked_by", sa.String(40), nullable=True),
        sa.Column("confirmation_hash", sa.String(64), nullable=True, unique=True),
        _when("confirmation_expires_at", nullable=True),
        sa.Column("self_service_index", sa.String(64), nullable=False, unique=True),
        sa.Column("self_service_sealed", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_table("subjects")
