"""``POST /v1/subjects``: register or find a person; returns the pseudonymous id.
``PATCH /v1/subjects/{id}``: the person moved to another municipality.

Registering a known person again changes nothing about them, a new
``municipality_key`` included: a move is said explicitly, with the PATCH.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.scopes import Scope
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.errors import Forbidden
from gateway.organisations import repository as organisations
from gateway.organisations.models import OrganisationKind
from gateway.subjects import service
from gateway.subjects.service import Identity

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])


class SubjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality_key: str = Field(pattern=r"^[0-9]{8}$")


class SubjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    birth_date: date
    municipality_key: str | None = Field(default=None, pattern=r"^[0-9]{8}$")
    jobcenter_customer_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{3,30}$")


@router.post(
    "",
    status_code=201,
    responses={200: {"description": "The person is already known to the gateway."}},
)
async def register_subject(
    body: SubjectCreate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> JSONResponse:
    """Register a person, or find them: 201 when new, 200 when already known."""

    def run() -> dict[str, Any]:
        if not (principal.scopes & {Scope.CONSENTS_WRITE, Scope.CONSENTS_READ}):
            principal.require(Scope.CONSENTS_WRITE)
        organisation = organisations.get_organisation(session, principal.organisation_id)
        if organisation is None or organisation.kind is OrganisationKind.OPERATOR:
            raise Forbidden("Only municipalities and jobcenters register persons.")
        registration = service.register(
            session,
            sealer=container.sealer,
            audit=container.audit,
            actor=principal.actor,
            organisation_id=principal.organisation_id,
            identity=Identity(
                given_name=body.given_name,
                family_name=body.family_name,
                birth_date=body.birth_date,
                jobcenter_customer_number=body.jobcenter_customer_number,
            ),
            municipality_key=body.municipality_key,
            trace_id=request.state.trace_id,
        )
        session.commit()
        return {"id": registration.subject.id, "created": registration.created}

    result = await run_in_threadpool(run)
    return JSONResponse(
        {"id": result["id"]},
        status_code=201 if result["created"] else 200,
        headers={"Location": f"/v1/subjects/{result['id']}"},
    )


@router.patch("/{subject_id}")
def update_subject(
    subject_id: str,
    body: SubjectUpdate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """A new municipality: each active consent naming a jobcenter that is no longer
    responsible for it (``policies/routing.yaml``) is paused, and that jobcenter told."""
    principal.require(Scope.CONSENTS_WRITE)
    actor = principal.actor
    subject, changed = service.change_municipality(
        session,
        audit=container.audit,
        actor=actor,
        organisation_id=principal.organisation_id,
        subject_id=subject_id,
        municipality_key=body.municipality_key,
        trace_id=request.state.trace_id,
    )
    paused = (
        container.consents.pause_after_move(
            session, subject=subject, actor=actor, trace_id=request.state.trace_id
        )
        if changed
        else ()
    )
    session.commit()
    return {
        "id": subject.id,
        "municipality_key": subject.municipality_key,
        "paused_consents": [consent.id for consent in paused],
    }
