"""Foundation: organisations, users, OAuth clients, audit trail.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AUDIT_TABLES = ("audit_events", "audit_checkpoints")


def _timestamp(name: str, *, index: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, index=index)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("official_key", sa.String(40), nullable=True, unique=True),
        sa.Column("parent_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=True),
        _timestamp("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "organisation_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
    )
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "organisation_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("auth_method", sa.String(30), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("jwks_uri", sa.String(2000), nullable=True),
        sa.Column("secret_hash", sa.String(128), nullable=True),
        sa.Column("tls_subject_dn", sa.String(500), nullable=True),
        sa.Column("scopes", sa.String(500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
    )
    op.create_table(
        "oauth_used_assertions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("jti", sa.String(200), nullable=False),
        _timestamp("expires_at", index=True),
        sa.UniqueConstraint("client_id", "jti", name="uq_used_assertion"),
    )
    op.create_table(
        "oauth_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(40), nullable=False),
        _timestamp("expires_at", index=True),
        _timestamp("revoked_at"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False, index=True),
        _timestamp("occurred_at", index=True),
        sa.Column("organisation_id", sa.String(40), nullable=True, index=True),
        sa.Column("user_id", sa.String(40), nullable=True, index=True),
        sa.Column("client_id", sa.String(40), nullable=True),
        sa.Column("subject_id", sa.String(40), nullable=True, index=True),
        sa.Column("consent_id", sa.String(40), nullable=True, index=True),
        sa.Column("purpose", sa.String(80), nullable=True),
        sa.Column("decision", sa.String(10), nullable=True),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(60), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
    )
    _protect_audit_tables()


def _protect_audit_tables() -> None:
    """The database itself refuses to change or remove audit rows."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        for table in AUDIT_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )
    elif dialect == "sqlite":
        for table in AUDIT_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: {operation} on {table} refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in AUDIT_TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        elif dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    for table in (
        "audit_checkpoints",
        "audit_events",
        "oauth_revoked_tokens",
        "oauth_used_assertions",
        "oauth_clients",
        "users",
        "organisations",
    ):
        op.drop_table(table)
