"""API models of queries."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.audit.rfc8785 import SAFE_INTEGER
from gateway.rfc8259 import MAX_DEPTH, nesting_depth


def _i_json(value: Any) -> Any:
    """Refuse numbers RFC 8785 cannot canonicalise (RFC 7493 I-JSON section 2.2), and
    nesting deeper than the limit of ``gateway.rfc8259``.

    Request hashes and audit hashes canonicalise parameters and answers; an
    integer beyond 2^53, a NaN or a value nested hundreds of levels deep would
    otherwise fail there, as a 500. The walk is iterative for the same reason.
    """
    if nesting_depth(value) > MAX_DEPTH:
        raise ValueError(f"values may nest at most {MAX_DEPTH} levels deep")
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and not -SAFE_INTEGER <= item <= SAFE_INTEGER:
            raise ValueError("integers must lie within -(2**53)+1 and 2**53-1 (I-JSON)")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite")
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
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
