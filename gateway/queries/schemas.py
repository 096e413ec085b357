"""API models of queries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(min_length=1, max_length=40)
    question: str = Field(min_length=1, max_length=80)
    purpose: str = Field(min_length=1, max_length=80)
    parameters: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class AnswerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: dict[str, Any]
