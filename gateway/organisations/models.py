"""Tables for organisations and their users."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class OrganisationKind(StrEnum):
    MUNICIPALITY = "municipality"
    DISTRICT = "district"
    JOBCENTER = "jobcenter"
    OPERATOR = "operator"


class Role(StrEnum):
    INTEGRATION_MANAGER = "integration_manager"
    JOBCENTER_STAFF = "jobcenter_staff"
    DPO = "dpo"
    ADMIN = "admin"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: str = Field(primary_key=True, max_length=40)
    kind: OrganisationKind = Field(sa_column=enum_column(OrganisationKind, 20))
    name: str = Field(max_length=200)
    # Official key: the AGS of a municipality, the district key, a jobcenter's number.
    official_key: str | None = Field(default=None, max_length=40, unique=True)
    parent_id: str | None = Field(default=None, foreign_key="organisations.id", max_length=40)
    # Whether its people may send free-text messages (question types marked free_text).
    free_text_allowed: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=40)
    organisation_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    role: Role = Field(sa_column=enum_column(Role, 30))
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    active: bool = True
    # argon2id hash for signing in to the web pages (gateway.web.accounts); None: no web sign-in.
    password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
