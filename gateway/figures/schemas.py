"""API models of the cooperation key figures (``GET /v1/figures``).

A count is a number, ``"<5"`` (fewer than five persons stand behind it) or
``"x"`` (withheld so that a ``"<5"`` cell cannot be computed from the cells
beside it); see ``gateway.figures.service`` for the exact rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Count = int | Literal["<5", "x"]
Hours = float | Literal["<5"] | None


class ConsentFigures(BaseModel):
    given: Count = Field(description="Persons whose consent became active in the month.")
    active_at_month_end: Count = Field(
        description="Persons with a consent in force at the end of the month (running month: now)."
    )
    revoked: Count = Field(description="Persons whose active consent was revoked in the month.")
    expired: Count = Field(description="Persons whose active consent expired in the month.")


class QueryFigures(BaseModel):
    asked: Count = Field(description="Queries asked in the month, denied ones included.")
    by_purpose: dict[str, Count] = Field(description="Queries asked, per purpose.")
    by_question: dict[str, Count] = Field(description="Queries asked, per question type.")


class AnswererFigures(BaseModel):
    answered: Count = Field(description="Answers this organisation gave in the month.")
    median_hours: Hours = Field(description="Median hours from asking to answering.")
    p90_hours: Hours = Field(description="90th percentile (linear interpolation) of the hours.")


class AnswerFigures(BaseModel):
    answered: Count = Field(description="Queries answered in the month.")
    within_deadline: Count = Field(description="Answered at or before the query's deadline.")
    late: Count = Field(description="Answered after the query's deadline.")
    by_answerer: dict[str, AnswererFigures] = Field(
        description="Per answering organisation (usually the jobcenter), keyed by its id."
    )


class DenialFigures(BaseModel):
    by_reason: dict[str, Count] = Field(
        description="Denied queries per reason; a query with several reasons counts for each."
    )


class MonthFigures(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-03"])
    consents: ConsentFigures
    queries: QueryFigures
    answers: AnswerFigures
    denials: DenialFigures


class OrganisationFigures(BaseModel):
    id: str
    name: str
    kind: str
    parent_id: str | None
    months: list[MonthFigures]


class FiguresReport(BaseModel):
    """Key figures of one year for the organisations the caller may see."""

    year: int
    time_zone: str = Field(description="Months run from midnight to midnight in this zone.")
    generated_at: datetime
    threshold: int = Field(description="Cells about fewer persons than this are suppressed.")
    legend: dict[str, str]
    organisations: list[OrganisationFigures]
