"""The subjects table: a pseudonym, a blind index and sealed identity attributes. No plaintext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow


class Subject(SQLModel, table=True):
    __tablename__ = "subjects"

    id: str = Field(primary_key=True, max_length=40)  # the pseudonym
    identity_index: str = Field(max_length=64, unique=True)
    # Sealed JSON of given_name, family_name, birth_date (gateway.sealing).
    identity_sealed: str = Field(sa_column=Column(Text, nullable=False))
    customer_number_sealed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    municipality_key: str | None = Field(default=None, max_length=12)
    registered_by: str = Field(foreign_key="organisations.id", max_length=40)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
