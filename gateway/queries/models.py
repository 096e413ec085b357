"""The queries table: one routed question and its lifecycle.

received -> denied | routed -> answered | failed | expired | cancelled.
Parameters, notes and answers are sealed; the audit trail holds only hashes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class QueryStatus(StrEnum):
    RECEIVED = "received"
    DENIED = "denied"
    ROUTED = "routed"
    ANSWERED = "answered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def open(self) -> bool:
        return self in {QueryStatus.RECEIVED, QueryStatus.ROUTED}


def _no_items() -> list[str]:
    # Not ``default_factory=list``: pydantic inspects a factory's signature on every
    # construction, and a builtin's takes ~50 µs to parse (a Python function's, ~3 µs).
    return []


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


class Query(SQLModel, table=True):
    __tablename__ = "queries"
    __table_args__ = (
        UniqueConstraint("asker_client_id", "idempotency_key", name="uq_query_idempotency"),
        # The daily question limit counts by these (``repository.count_asked``); migration 0007.
        Index("ix_queries_asked_per_day", "subject_id", "asker_user_id", "created_at", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    question: str = Field(max_length=80)
    purpose: str = Field(max_length=80)
    direction: str = Field(max_length=40)
    subject_id: str = Field(foreign_key="subjects.id", index=True, max_length=40)
    consent_id: str | None = Field(
        default=None, foreign_key="consents.id", index=True, max_length=40
    )
    asker_org_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    asker_user_id: str = Field(max_length=40, index=True)
    asker_client_id: str = Field(max_length=40)
    answerer_org_id: str | None = Field(default=None, index=True, max_length=40)
    adapter: str | None = Field(default=None, max_length=20)
    status: QueryStatus = Field(sa_column=enum_column(QueryStatus, 12))
    idempotency_key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    parameters_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    note_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    policy_version: str = Field(max_length=80)
    reasons: list[str] = Field(default_factory=_no_items, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    deadline: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = _when(index=True)
    last_error: str | None = Field(default=None, max_length=300)
    routed_at: datetime | None = _when()
    answered_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    answer_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    answer_sha256: str | None = Field(default=None, max_length=64)
    dropped_fields: list[str] = Field(
        default_factory=_no_items, sa_column=Column(JSON, nullable=False)
    )
    delivered_at: datetime | None = _when()
    retention_until: datetime | None = _when(index=True)
