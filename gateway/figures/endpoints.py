"""``GET /v1/figures``: the key figures the caller may see, as JSON or CSV."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from gateway.clock import utcnow
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.figures import service
from gateway.figures.schemas import FiguresReport

router = APIRouter(prefix="/v1/figures", tags=["figures"])


class FiguresFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get(
    "",
    summary="Cooperation key figures per organisation and month",
    response_model=FiguresReport,
    responses={
        200: {
            "description": "The figures; with `format=csv` one line per cell.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def read_figures(
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    year: Annotated[
        int | None, Query(ge=1970, le=2100, description="Calendar year; default: this year.")
    ] = None,
    format_: Annotated[FiguresFormat, Query(alias="format")] = FiguresFormat.JSON,
    organisation: Annotated[
        str | None, Query(max_length=40, description="Only this (visible) organisation.")
    ] = None,
) -> Response:
    """Consents given, in force, revoked and expired; queries by purpose and question type;
    answers within and after the deadline with median and 90th percentile answer times per
    answering organisation; denials by reason. A DPO, administrator or integration manager
    sees their organisation, a district office also its municipalities, the operator every
    organisation. Cells about fewer than five persons read `"<5"`, cells withheld to protect
    them `"x"`."""
    now = utcnow()
    report = service.report_for(
        session,
        guard=container.guard,
        principal=principal,
        year=year if year is not None else now.astimezone(service.TIME_ZONE).year,
        organisation_id=organisation,
        now=now,
    )
    if format_ is FiguresFormat.CSV:
        return Response(
            service.render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="figures-{report.year}.csv"'},
        )
    return JSONResponse(report.model_dump(mode="json"))
