"""Stored Merkle subtree roots (``audit_subtrees``) and background verifications.

``audit_subtrees`` holds the root of every complete, aligned perfect subtree
of 16 leaves or more of the RFC 9162 section 2.1.1 Merkle tree, so inclusion
and consistency proofs (sections 2.1.3.1 and 2.1.4.1) read O(log n) rows, not
every leaf hash (``gateway.audit.subtrees``). Append-only like the other audit
tables. The roots of an existing trail are computed here from its leaf
hashes, in order, until the first missing event (a trail with a gap is
broken anyway; the verifier names the gap).

``audit_verifications`` holds the whole-trail verifications started from the
web; ``active`` is unique, so only one is queued or running at a time.

The hashing is written out here rather than imported, so this revision means
the same whatever later code does.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

# Must equal gateway.audit.subtrees.STORED_FROM_LEVEL.
STORED_FROM_LEVEL = 4
BATCH = 10_000


def upgrade() -> None:
    op.create_table(
        "audit_subtrees",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_verifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True, unique=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("checkpoints", sa.BigInteger(), nullable=True),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
    )
    _fill_subtrees(op.get_bind())
    _protect_subtrees()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _fill_subtrees(connection: sa.Connection) -> None:
    """The roots of the existing trail's complete subtrees, reading each leaf hash once."""
    subtrees = sa.table("audit_subtrees", sa.column("level"), sa.column("idx"), sa.column("hash"))
    read = sa.text(
        "SELECT seq, leaf_hash FROM audit_events WHERE seq > :last ORDER BY seq LIMIT :batch"
    )
    frontier: list[bytes] = []  # roots of the perfect subtrees so far, largest first
    size = 0
    while True:
        rows = connection.execute(read, {"last": size, "batch": BATCH}).all()
        nodes: list[dict[str, object]] = []
        for seq, leaf_hash in rows:
            if seq != size + 1:
                rows = []  # a gap: nothing after it can be placed
                break
            frontier.append(bytes.fromhex(leaf_hash))
            level, remaining = 0, size
            while remaining & 1:  # merge equal-sized subtrees, as RFC 9162 section 2.1.1 does
                right, left = frontier.pop(), frontier.pop()
                frontier.append(_node(left, right))
                level += 1
                remaining >>= 1
                if level >= STORED_FROM_LEVEL:
                    nodes.append(
                        {
                            "level": level,
                            "idx": ((size + 1) >> level) - 1,
                            "hash": frontier[-1].hex(),
                        }
                    )
            size += 1
        if nodes:
            connection.execute(sa.insert(subtrees), nodes)
        if len(rows) < BATCH:
            return


def _protect_subtrees() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # audit_append_only() comes from revision 0001.
        op.execute(
            "CREATE TRIGGER audit_subtrees_append_only BEFORE UPDATE OR DELETE ON audit_subtrees "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_subtrees_no_truncate BEFORE TRUNCATE ON audit_subtrees "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
    elif dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_subtrees_no_{operation.lower()} BEFORE {operation} "
                "ON audit_subtrees BEGIN SELECT RAISE(ABORT, "
                f"'audit trail is append-only: {operation} on audit_subtrees refused'); END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_subtrees_append_only ON audit_subtrees")
        op.execute("DROP TRIGGER IF EXISTS audit_subtrees_no_truncate ON audit_subtrees")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_subtrees_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_subtrees_no_delete")
    op.drop_table("audit_verifications")
    op.drop_table("audit_subtrees")
