"""The subjects tables: a pseudonym, a blind index and sealed identity attributes, and which
organisations registered or found each person. No plaintext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow


class Subject(SQLModel, table=True):
    __tablename__ = "subjects"

    id: str = Field(primary_key=True, max_length=40)  # the pseudonym
    # HMAC of the normalised name and birth date; for a second person with the same
    # name and birth date, of those and the customer number (``registration``).
    identity_index: str = Field(max_length=64, unique=True)
    # Sealed JSON of given_name, family_name, birth_date (gateway.sealing).
    identity_sealed: str = Field(sa_column=Column(Text, nullable=False))
    # The customer number the person was first registered with: what tells two persons
    # with the same name and birth date apart, and what the jobcenter is sent.
    customer_number_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    municipality_key: str | None = Field(default=None, max_length=12)
    registered_by: str = Field(foreign_key="organisations.id", max_length=40)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class SubjectRegistration(SQLModel, table=True):
    """One organisation registered or found a person (API or pages).

    It is the organisation's standing with the person before any consent links
    them (rule ``person.read.staff_with_standing``), and it holds the customer
    number that organisation gave, shown to that organisation only. The number
    is sealed under the subject's customer-number context, like the subject's
    own, so migration 0010 could copy the first registration's without keys.
    """

    __tablename__ = "subject_registrations"
    __table_args__ = (
        Index("ix_subject_registrations_subject_id", "subject_id"),
        Index("ix_subject_registrations_organisation_time", "organisation_id", "registered_at"),
    )

    organisation_id: str = Field(primary_key=True, foreign_key="organisations.id", max_length=40)
    subject_id: str = Field(primary_key=True, foreign_key="subjects.id", max_length=40)
    registered_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    customer_number_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
