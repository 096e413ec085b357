"""API models of queries."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.audit.rfc8785 import SAFE_INTEGER


def _i_json(value: Any) -> Any:
    """Refuse numbers RFC 8785 cannot canonicalise (RFC 7493 I-JSON section 2.2).

    Request hashes and audit hashes canonicalise parameters and answers; an
    integer beyond 2^53 or a NaN would otherwise fail there, as a 500.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not -SAFE_INTEGER <= value <= SAFE_INTEGER:
        raise ValueError("integers must lie within -(2**53)+1 and 2**53-1 (I-JSON)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, dict):
        for item in value.values():
            _i_json(item)
    if isinstance(value, list):
        for item in value:
            _i_json(item)
    return value


class QueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(min_length=1, max_length=40)
    question: str = Field(min_length=1, max_length=80)
    purpose: str = Field(min_length=1, max_length=80)
    parameters: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)

    _parameters_are_i_json = field_validator("parameters")(_i_json)


class AnswerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: dict[str, Any]

    _answer_is_i_json = field_validator("answer")(_i_json)
