"""Audit events accepted before they are sequenced: the ``audit_pending`` table.

An event is inserted here in the transaction of the change it records, without
taking the chain lock; a sequencer moves pending events into ``audit_events``
in batches (assigning ``seq``, ``prev`` and the leaf hash) and deletes them
here. UPDATE is refused, as on the other audit tables; DELETE is the
sequencer's.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # audit_append_only() comes from revision 0001.
        op.execute(
            "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    elif dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON audit_pending "
            "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE on audit_pending "
            "refused'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_no_update ON audit_pending")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_no_update")
    op.drop_table("audit_pending")
