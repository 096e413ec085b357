"""HTTP routes of the policy capability: ``GET /v1/catalogue`` publishes the
purposes, categories and question types (with their answer schemas) that
``policies/`` defines, and the policy version they belong to.

The engine comes from ``app.state.policy_engine`` (set by the application
factory) through the ``get_policy_engine`` dependency.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gateway.policy.engine import PolicyEngine
from gateway.policy.models import Catalogue

router = APIRouter(tags=["catalogue"])


def get_policy_engine(request: Request) -> PolicyEngine:
    return cast(PolicyEngine, request.app.state.policy_engine)


PolicyEngineDep = Annotated[PolicyEngine, Depends(get_policy_engine)]


class PurposePublic(BaseModel):
    id: str
    categories: list[str]
    labels: dict[str, str]


class CategoryPublic(BaseModel):
    id: str
    special: bool
    labels: dict[str, str]


class QuestionPublic(BaseModel):
    id: str
    purpose: str
    categories: list[str]
    optional_categories: list[str] = Field(
        description="Categories of answer fields delivered only when the consent covers them"
    )
    direction: str
    answer_schema: dict[str, Any]
    parameters_schema: dict[str, Any] | None = None
    deadline_days: int
    free_text: bool
    labels: dict[str, str]
    legal_basis: dict[str, Any] = Field(
        description='`{"kind": "consent"}`, or `{"kind": "statute", "citation": ...}` for a '
        "question asked without consent"
    )


class CataloguePublic(BaseModel):
    purposes: list[PurposePublic]
    categories: list[CategoryPublic]
    questions: list[QuestionPublic]
    policy_version: str


def catalogue_public(*, catalogue: Catalogue, policy_version: str) -> CataloguePublic:
    return CataloguePublic(
        purposes=[
            PurposePublic(id=p.id, categories=list(p.categories), labels=dict(p.labels))
            for p in catalogue.purposes.values()
        ],
        categories=[
            CategoryPublic(id=c.id, special=c.special, labels=dict(c.labels))
            for c in catalogue.categories.values()
        ],
        questions=[
            QuestionPublic(
                id=q.id,
                purpose=q.purpose,
                categories=list(q.categories),
                optional_categories=list(q.optional_categories),
                direction=q.direction.value,
                answer_schema=dict(q.answer_schema),
                parameters_schema=None
                if q.parameters_schema is None
                else dict(q.parameters_schema),
                deadline_days=q.deadline_days,
                free_text=q.free_text,
                labels=dict(q.labels),
                legal_basis=q.legal_basis.as_dict(),
            )
            for q in catalogue.questions.values()
        ],
        policy_version=policy_version,
    )


@router.get(
    "/v1/catalogue",
    response_model=CataloguePublic,
    response_model_exclude_none=True,
    summary="Purposes, data categories and question types with their answer schemas",
)
def read_catalogue(engine: PolicyEngineDep) -> CataloguePublic:
    return catalogue_public(catalogue=engine.catalogue, policy_version=engine.version)
