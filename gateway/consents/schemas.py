"""API models of consents (request and response bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.consents.models import EvidenceChannel, RepresentativeRelation
from gateway.policy.models import Direction

SHORT_TEXT = 200


class Interpreter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = Field(min_length=2, max_length=8)
    name: str = Field(min_length=1, max_length=SHORT_TEXT)


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_type: str = Field(pattern=r"^(image/(png|jpeg|svg\+xml)|application/pdf)$")
    data_base64: str = Field(min_length=4)


class LegalRepresentative(BaseModel):
    """Who gave the consent for a person below the age of capacity (``limits.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=SHORT_TEXT)
    relation: RepresentativeRelation


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: EvidenceChannel
    text_version: str | None = Field(default=None, max_length=40)
    text_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    interpreter: Interpreter | None = None
    attachment: Attachment | None = None
    notes: str | None = Field(default=None, max_length=2000)
    legal_representative: LegalRepresentative | None = None


class ConsentTerms(BaseModel):
    """What the person agrees to; shared by recording and amending."""

    model_config = ConfigDict(extra="forbid")
    purposes: list[str] = Field(min_length=1, max_length=20)
    categories: list[str] = Field(min_length=1, max_length=40)
    explicit_special_categories: list[str] = Field(default_factory=list, max_length=10)
    directions: list[Direction] = Field(min_length=1, max_length=2)
    valid_until: date
    language: str = Field(min_length=2, max_length=8)
    named_users: list[str] = Field(default_factory=list, max_length=50)
    use_limits: dict[str, int] = Field(default_factory=dict)
    evidence: Evidence


class ConsentCreate(ConsentTerms):
    subject_id: str = Field(min_length=1, max_length=40)
    jobcenter_id: str = Field(min_length=1, max_length=40)


class RevokeRequest(BaseModel):
    """``channel``: how the person's withdrawal reached you (``in_person``, ``phone``,
    ``letter``, ``email``, ``self_service``): the consent becomes ``withdrawn``; or
    ``case_system``: your organisation ends it on its own account, it becomes ``revoked``."""

    model_config = ConfigDict(extra="forbid")
    channel: str = Field(pattern=r"^(in_person|phone|letter|email|case_system|self_service)$")
    reason: str | None = Field(default=None, max_length=1000)


class StatusChangeRequest(BaseModel):
    """Pausing or resuming a consent: why, in words the other party can read."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class GivenByPublic(BaseModel):
    """``person``, or ``legal_representative`` with the ``relation`` (the name stays sealed)."""

    role: str
    relation: str | None = None


class StatusReasonPublic(BaseModel):
    code: str
    text: str


class UsePublic(BaseModel):
    count: int
    last_used_at: datetime | None


class ConsentPublic(BaseModel):
    id: str
    version: int
    previous_id: str | None
    status: str
    status_reason: StatusReasonPublic | None
    status_changed_at: datetime | None
    subject_id: str
    grantee_id: str
    jobcenter_id: str
    named_users: list[str]
    purposes: list[str]
    categories: list[str]
    explicit_special_categories: list[str]
    directions: list[str]
    use_limits: dict[str, int]
    use: dict[str, UsePublic] = Field(default_factory=dict)
    valid_from: datetime
    valid_until: datetime
    language: str
    text_version: str
    text_sha256: str
    evidence_channel: str
    given_by: GivenByPublic
    attachment_sha256: str | None
    recorded_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    revocation_channel: str | None
    links: dict[str, str]
    confirmation_url: str | None = None
    confirmation_expires_at: datetime | None = None
    extra: dict[str, Any] | None = None


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str
    purposes: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    directions: list[Direction] = Field(min_length=1)
    jobcenter_id: str
    valid_until: date
