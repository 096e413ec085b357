"""Webhook subscriptions and the outbox of messages to deliver.

A message is written to the outbox in the transaction of the change it
announces, so nothing acknowledged is lost; a worker delivers it with retries
and backoff and marks it failed (visible to the operator) after the last try.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"

    id: str = Field(primary_key=True, max_length=40)
    organisation_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    url: str = Field(max_length=2000)
    secret_sealed: str = Field(sa_column=Column(Text, nullable=False))
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "webhook_outbox"

    id: str = Field(primary_key=True, max_length=40)  # the webhook-id header
    subscription_id: str = Field(foreign_key="webhook_subscriptions.id", index=True, max_length=40)
    event_type: str = Field(max_length=60)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: OutboxStatus = Field(sa_column=enum_column(OutboxStatus, 12))
    attempts: int = 0
    next_attempt_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
