"""Tables of the audit trail. Both are append-only; the database refuses UPDATE and DELETE.

``event`` holds the RFC 8785 canonical JSON of the event, the exact bytes that
are hashed. The other columns of ``audit_events`` repeat fields of the event so
that data protection officers can filter; the verifier checks they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class AuditEventRow(SQLModel, table=True):
    __tablename__ = "audit_events"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event: str = Field(sa_column=Column(Text, nullable=False))
    leaf_hash: str = Field(max_length=64)
    event_type: str = Field(max_length=60, index=True)
    occurred_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    organisation_id: str | None = Field(default=None, max_length=40, index=True)
    user_id: str | None = Field(default=None, max_length=40, index=True)
    client_id: str | None = Field(default=None, max_length=40)
    subject_id: str | None = Field(default=None, max_length=40, index=True)
    consent_id: str | None = Field(default=None, max_length=40, index=True)
    purpose: str | None = Field(default=None, max_length=80)
    decision: str | None = Field(default=None, max_length=10)


class AuditCheckpointRow(SQLModel, table=True):
    __tablename__ = "audit_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: str = Field(max_length=64)
    timestamp: str = Field(max_length=40)
    jws: str = Field(sa_column=Column(Text, nullable=False))
    kid: str = Field(max_length=60)
    # Hashes of the perfect subtrees that make up the tree (RFC 9162 section
    # 2.1.1 decomposition), so the next checkpoint extends this one instead of
    # rehashing every leaf.
    frontier: str = Field(sa_column=Column(Text, nullable=False))
