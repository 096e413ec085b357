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

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class ConsentStatus(StrEnum):
    """``withdrawn``: the person ended it; ``revoked``: an organisation ended it.

    Both are final, as are ``expired`` and ``superseded``; ``paused`` permits
    nothing until it is resumed.
    """

    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        ConsentStatus.WITHDRAWN,
        ConsentStatus.REVOKED,
        ConsentStatus.EXPIRED,
        ConsentStatus.SUPERSEDED,
    }
)


class StatusReason(StrEnum):
    """Why a consent has its status: the ``code`` of ``status_reason``, one per kind of change."""

    AWAITING_CONFIRMATION = "awaiting_confirmation"
    GRANTED = "granted"
    AMENDED = "amended"
    CONFIRMED_BY_PERSON = "confirmed_by_person"
    SUPERSEDED_BY_AMENDMENT = "superseded_by_amendment"
    EXPIRED_BY_DATE = "expired_by_date"
    WITHDRAWN_BY_PERSON = "withdrawn_by_person"
    REVOKED_BY_MUNICIPALITY = "revoked_by_municipality"
    REVOKED_BY_JOBCENTER = "revoked_by_jobcenter"
    PAUSED_BY_MUNICIPALITY = "paused_by_municipality"
    PAUSED_BY_JOBCENTER = "paused_by_jobcenter"
    PAUSED_JOBCENTER_CHANGED = "paused_jobcenter_changed"
    RESUMED = "resumed"


#: The ``text`` of a status reason when the one who changed the status gave none.
STATUS_REASON_TEXTS: dict[StatusReason, str] = {
    StatusReason.AWAITING_CONFIRMATION: "Recorded; waiting for the person's confirmation.",
    StatusReason.GRANTED: "The person gave the consent.",
    StatusReason.AMENDED: "The person agreed to changed terms (a new version).",
    StatusReason.CONFIRMED_BY_PERSON: "The person confirmed the consent on their own phone.",
    StatusReason.SUPERSEDED_BY_AMENDMENT: "Replaced by a new version.",
    StatusReason.EXPIRED_BY_DATE: "The consent reached the end of its validity.",
    StatusReason.WITHDRAWN_BY_PERSON: "The person withdrew the consent.",
    StatusReason.REVOKED_BY_MUNICIPALITY: "The municipality ended the consent.",
    StatusReason.REVOKED_BY_JOBCENTER: "The jobcenter ended the consent.",
    StatusReason.PAUSED_BY_MUNICIPALITY: "The municipality paused the consent.",
    StatusReason.PAUSED_BY_JOBCENTER: "The jobcenter paused the consent.",
    StatusReason.PAUSED_JOBCENTER_CHANGED: (
        "Paused: another jobcenter is now responsible for the person."
    ),
    StatusReason.RESUMED: "The consent applies again.",
}


class EvidenceChannel(StrEnum):
    PAPER_SIGNATURE = "paper_signature"
    SCREEN_SIGNATURE = "screen_signature"
    OWN_PHONE = "own_phone"


class RepresentativeRelation(StrEnum):
    """How a legal representative stands to the person (§ 1629 BGB parents, a guardian)."""

    PARENT = "parent"
    GUARDIAN = "guardian"  # Vormund
    CARER = "carer"  # Pfleger, Ergänzungspfleger


class RevocationChannel(StrEnum):
    """Who carried the person's withdrawal to the gateway."""

    INTEGRATION_MANAGER = "integration_manager"
    JOBCENTER = "jobcenter"
    SELF_SERVICE = "self_service"


def _json_column() -> Any:
    return Field(sa_column=Column(JSON, nullable=False))


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    __table_args__ = (
        # The consent check finds a person's consents with one party; the scheduler
        # finds consents past their end (migration 0007).
        Index("ix_consents_subject_grantee", "subject_id", "grantee_id"),
        Index("ix_consents_subject_jobcenter", "subject_id", "jobcenter_id"),
        Index("ix_consents_due", "status", "valid_until"),
    )

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
    # Why the status is what it is; the text, when someone gave one, is sealed (it may
    # hold more than it should) and otherwise the standard text of the code.
    status_reason_code: StatusReason | None = Field(
        default=None, sa_column=enum_column(StatusReason, 40, nullable=True)
    )
    status_reason_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status_changed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
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


class VerificationCode(SQLModel, table=True):
    """A short one-time code the integration manager reads to jobcenter staff on the phone.

    Only a keyed hash of the code is kept (``Sealer.blind_index``); it is valid for minutes
    and for one check.
    """

    __tablename__ = "consent_verification_codes"

    id: str = Field(primary_key=True, max_length=40)
    consent_id: str = Field(foreign_key="consents.id", index=True, max_length=40)
    code_hash: str = Field(max_length=64, unique=True)
    issued_by_user: str = Field(max_length=40)
    issued_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    used_by_user: str | None = Field(default=None, max_length=40)


class VerificationLockout(SQLModel, table=True):
    """Consecutive wrong codes one user tried, and the lock they caused."""

    __tablename__ = "consent_verification_lockouts"

    user_id: str = Field(primary_key=True, max_length=40)
    failures: int = 0
    last_failure_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
