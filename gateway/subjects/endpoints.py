"""``POST /v1/subjects``: register or find a person; returns the pseudonymous id.
``PATCH /v1/subjects/{id}``: the person moved to another municipality.

Registering a known person again changes nothing about them, a new
``municipality_key`` included: a move is said explicitly, with the PATCH.
The rules of each are in ``registration`` and ``moves``.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.subjects import moves, registration
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
    another_person: bool = Field(
        default=False,
        description="A different person with the same name and birth date as one your "
        "organisation registered under another customer number (after a 409 "
        "customer-number-conflict).",
    )


class SubjectPublic(BaseModel):
    id: str


class SubjectMovedPublic(BaseModel):
    id: str
    municipality_key: str | None
    #: the consents the move paused that the caller may read; other parties are told by webhook
    paused_consents: list[str]


@router.post(
    "",
    status_code=201,
    response_model=SubjectPublic,
    responses={200: {"description": "Your organisation registered or found the person before."}},
)
async def register_subject(
    body: SubjectCreate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> JSONResponse:
    """Register a person, or find them: 201 when new to your organisation, 200 when your
    organisation registered or found them before."""

    def run() -> tuple[str, bool]:
        registered = registration.register(
            session,
            guard=container.guard,
            principal=principal,
            sealer=container.sealer,
            audit=container.audit,
            routing=container.policy.routing,
            identity=Identity(
                given_name=body.given_name,
                family_name=body.family_name,
                birth_date=body.birth_date,
                jobcenter_customer_number=body.jobcenter_customer_number,
            ),
            municipality_key=body.municipality_key,
            another_person=body.another_person,
            trace_id=request.state.trace_id,
        )
        session.commit()
        return registered.subject.id, registered.created

    subject_id, created = await run_in_threadpool(run)
    return JSONResponse(
        SubjectPublic(id=subject_id).model_dump(),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/subjects/{subject_id}"},
    )


@router.patch("/{subject_id}", response_model=SubjectMovedPublic)
def update_subject(
    subject_id: str,
    body: SubjectUpdate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> SubjectMovedPublic:
    """A new municipality: each active consent naming a jobcenter that is no longer
    responsible for it (``policies/routing.yaml``) is paused, and that jobcenter told."""
    moved = moves.move(
        session,
        consents=container.consents,
        principal=principal,
        audit=container.audit,
        routing=container.policy.routing,
        subject_id=subject_id,
        municipality_key=body.municipality_key,
        trace_id=request.state.trace_id,
    )
    session.commit()
    return SubjectMovedPublic(
        id=moved.subject.id,
        municipality_key=moved.subject.municipality_key,
        paused_consents=list(moved.paused_consent_ids),
    )
