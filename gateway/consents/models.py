"""Tables of consents, their evidence attachments and the one-time codes around them.

A consent is never edited in place: an amendment is a new row (``version`` + 1,
``previous_id``) and the old one becomes ``superseded`` once the new one is
active. Status changes (activation, revocation, expiry) are the only updates,
and each is written with its audit event in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class ConsentStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class EvidenceChannel(StrEnum):
    PAPER_SIGNATURE = "paper_signature"
    SCREEN_SIGNATURE = "screen_signature"
    OWN_PHONE = "own_phone"


class RevocationChannel(StrEnum):
    """Who carried the person's withdrawal to the gateway."""

    INTEGRATION_MANAGER = "integration_manager"
    JOBCENTER = "jobcenter"
    SELF_SERVICE = "self_service"


def _json_column() -> Any:
    return Field(sa_column=Column(JSON, nullable=False))


class Consent(SQLModel, table=True):
    __tablename__ = "consents"

    id: str = Field(primary_key=True, max_length=40)
    version: int = 1
    previous_id: str | None = Field(default=None, foreign_key="consents.id", max_length=40)
    subject_id: str = Field(foreign_key="subjects.id", index=True, max_length=40)
    grantee_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    jobcenter_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    named_users: list[str] = _json_column()
    purposes: list[str] = _json_column()
    categories: list[str] = _json_column()
    explicit_special_categories: list[str] = _json_column()
    directions: list[str] = _json_column()
    use_limits: dict[str, int] = _json_column()
    valid_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    valid_until: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    status: ConsentStatus = Field(sa_column=enum_column(ConsentStatus, 12))
    language: str = Field(max_length=8)
    text_version: str = Field(max_length=40)
    text_sha256: str = Field(max_length=64)
    evidence_channel: EvidenceChannel = Field(sa_column=enum_column(EvidenceChannel, 20))
    # Sealed JSON with the interpreter's name and language and any notes.
    evidence_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attachment_sha256: str | None = Field(default=None, max_length=64)
    attachment_media_type: str | None = Field(default=None, max_length=60)
    attachment_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_by_user: str | None = Field(default=None, max_length=40)
    recorded_by_client: str = Field(max_length=40)
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    activated_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    ended_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revocation_channel: str | None = Field(default=None, max_length=30)
    revoked_by: str | None = Field(default=None, max_length=40)
    # One-time confirmation on the person's phone: only a hash of the token is kept.
    confirmation_hash: str | None = Field(default=None, max_length=64, unique=True)
    confirmation_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # The self-service code of the receipt: a blind index to find it, sealed to print it again.
    self_service_index: str = Field(max_length=64, unique=True)
    self_service_sealed: str = Field(sa_column=Column(Text, nullable=False))
