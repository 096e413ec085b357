"""Tables of the audit trail.

``audit_events`` and ``audit_checkpoints`` are append-only; the database
refuses UPDATE and DELETE. ``event`` holds the RFC 8785 canonical JSON of the
event, the exact bytes that are hashed. The other columns of ``audit_events``
repeat fields of the event so that data protection officers can filter; the
verifier checks they agree.

``audit_pending`` holds events accepted durably (in the transaction of the
change they record) but not yet integrated into the chain: the sequencer
moves them into ``audit_events`` in batches, in the manner of RFC 9162's
"maximum merge delay". Rows there carry no ``seq`` or ``prev`` yet and are
deleted once integrated; the database refuses to UPDATE them.

``audit_subtrees`` holds the roots of complete perfect subtrees of the RFC
9162 Merkle tree (``gateway.audit.subtrees``), written in the transaction that
sequences their last event, append-only like the events, so a proof reads
O(log n) rows. ``audit_verifications`` holds the whole-trail verifications
data protection officers start from the web: they run in the background and
the page shows the latest one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, SmallInteger, Text
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


class AuditPendingRow(SQLModel, table=True):
    __tablename__ = "audit_pending"

    # SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    # RFC 8785 JSON of the event without ``seq`` and ``prev`` (known only once sequenced).
    body: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AuditSubtreeRow(SQLModel, table=True):
    __tablename__ = "audit_subtrees"

    # The root of leaves ``idx * 2**level`` to ``(idx + 1) * 2**level`` (0-based leaf
    # indexes, i.e. seq - 1), as lowercase hex.
    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: str = Field(max_length=64)


class AuditVerificationRow(SQLModel, table=True):
    __tablename__ = "audit_verifications"

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    requested_by: str | None = Field(default=None, max_length=40)
    # True until the verification has finished, then NULL: a unique column, so the
    # database itself lets only one be queued or running at a time (NULLs never collide).
    active: bool | None = Field(default=True, sa_column=Column(Boolean, unique=True))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    # None once finished: the verification could not complete (``problem`` says why).
    ok: bool | None = Field(default=None, sa_column=Column(Boolean))
    events: int | None = Field(default=None, sa_column=Column(BigInteger))
    checkpoints: int | None = Field(default=None, sa_column=Column(BigInteger))
    first_bad_seq: int | None = Field(default=None, sa_column=Column(BigInteger))
    problem: str | None = Field(default=None, sa_column=Column(Text))
