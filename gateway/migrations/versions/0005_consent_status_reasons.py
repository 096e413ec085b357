"""Consent status reasons, the statuses ``paused`` and ``withdrawn``, verification codes.

Every status change now records a machine-readable reason on the consent
(``status_reason_code``, a sealed text when someone gave one, and when the
status changed). Existing consents get the reason their status implies; a
consent the person revoked on their self-service page becomes ``withdrawn``,
the status such an ending has from now on (its audit event stays as written).

One-time verification codes for the phone (only their keyed hash) and the
lockout counters of users who tried wrong codes get their own tables.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# (status, condition on the old row, reason code) in the order they are applied.
_BACKFILL = (
    ("pending", "1 = 1", "awaiting_confirmation"),
    ("active", "evidence_channel = 'own_phone'", "confirmed_by_person"),
    ("active", "previous_id IS NOT NULL", "amended"),
    ("active", "status_reason_code IS NULL", "granted"),
    ("superseded", "1 = 1", "superseded_by_amendment"),
    ("expired", "1 = 1", "expired_by_date"),
    ("revoked", "revocation_channel = 'jobcenter'", "revoked_by_jobcenter"),
    ("revoked", "revocation_channel = 'integration_manager'", "revoked_by_municipality"),
)


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("status_reason_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("status_reason_sealed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    for status, condition, code in _BACKFILL:
        op.execute(
            f"UPDATE consents SET status_reason_code = '{code}' "  # noqa: S608 - constants above
            f"WHERE status = '{status}' AND status_reason_code IS NULL AND {condition}"
        )
    op.execute(
        "UPDATE consents SET status = 'withdrawn', status_reason_code = 'withdrawn_by_person' "
        "WHERE status = 'revoked' AND revocation_channel = 'self_service'"
    )
    op.execute(
        "UPDATE consents SET status_changed_at = COALESCE(ended_at, activated_at, recorded_at)"
    )
    op.create_table(
        "consent_verification_codes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "consent_id", sa.String(40), sa.ForeignKey("consents.id"), nullable=False, index=True
        ),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_by_user", sa.String(40), nullable=False),
        _when("issued_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.Column("used_by_user", sa.String(40), nullable=True),
    )
    op.create_table(
        "consent_verification_lockouts",
        sa.Column("user_id", sa.String(40), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _when("last_failure_at", nullable=True),
        _when("locked_until", nullable=True),
    )


def downgrade() -> None:
    op.drop_table("consent_verification_lockouts")
    op.drop_table("consent_verification_codes")
    op.execute("UPDATE consents SET status = 'revoked' WHERE status = 'withdrawn'")
    # A paused consent was in force before the pause: it is active again without pauses.
    op.execute("UPDATE consents SET status = 'active' WHERE status = 'paused'")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("status_changed_at")
        batch.drop_column("status_reason_sealed")
        batch.drop_column("status_reason_code")
