"""HTTP routes of queries: ask, read, list (the inbox), answer, cancel; adapter callbacks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi import Query as QueryParam
from fastapi.responses import JSONResponse

from adapters.base import AdapterProtocolError
from gateway.bootstrap import Container
from gateway.clock import as_utc
from gateway.consents import repository as consents
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.errors import BadRequest, NotFound, Unauthorized
from gateway.policy.models import Decision
from gateway.queries.models import Query, QueryStatus
from gateway.queries.schemas import AnswerCreate, QueryCreate
from gateway.queries.service import QueryCancelled
from gateway.rfc9457 import problem_response

router = APIRouter(tags=["queries"])


def _public(query: Query, session: SessionDep, container: Container) -> dict[str, Any]:
    consent = consents.get(session, query.consent_id or "")
    view: dict[str, Any] = {
        "id": query.id,
        "status": query.status.value,
        "question": query.question,
        "purpose": query.purpose,
        "direction": query.direction,
        "subject_id": query.subject_id,
        "consent_id": query.consent_id,
        "asker_organisation_id": query.asker_org_id,
        "answerer_organisation_id": query.answerer_org_id,
        "adapter": query.adapter,
        "created_at": as_utc(query.created_at).isoformat(),
        "deadline": as_utc(query.deadline).isoformat(),
        "policy_version": query.policy_version,
    }
    if query.reasons:
        view["reasons"] = query.reasons
    if query.answered_at:
        view["answered_at"] = as_utc(query.answered_at).isoformat()
        view["dropped_fields"] = query.dropped_fields
    if consent is not None:
        view["consent"] = {
            "id": consent.id,
            "status": consent.status.value,
            "purposes": consent.purposes,
            "categories": consent.categories,
            "valid_until": as_utc(consent.valid_until).isoformat(),
            "receipt": f"/v1/consents/{consent.id}/receipt",
        }
    return view


def _denied(container: Container, query: Query, decision: Decision | None) -> JSONResponse:
    titles = container.policy.reasons
    reasons = [
        {"code": code, "title": titles[code].titles.get("en", code) if code in titles else code}
        for code in query.reasons
    ]
    return problem_response(
        status=403,
        slug="query-denied",
        title="The query is not covered by the consent or the rules",
        detail="; ".join(reason["title"] for reason in reasons),
        instance=f"/v1/queries/{query.id}",
        query_id=query.id,
        reasons=reasons,
        policies=list(decision.policy_ids) if decision else [],
        uncovered_categories=list(decision.uncovered_categories) if decision else [],
    )


@router.post("/v1/queries", status_code=201)
def ask(
    body: QueryCreate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    asked = container.queries.ask(
        session,
        principal=principal,
        body=body,
        idempotency_key=idempotency_key,
        trace_id=request.state.trace_id,
    )
    session.commit()  # the decision is on the audit trail before anything leaves
    query = asked.query
    if query.status is QueryStatus.DENIED:
        return _denied(container, query, asked.decision)
    if query.status is QueryStatus.RECEIVED and not asked.replay:
        container.queries.route(
            container.engine,
            query.id,
            traceparent=request.headers.get("traceparent"),
            claimed=True,
        )
        session.refresh(query)
    view = _public(query, session, container)
    # The view's reads began a transaction (on SQLite: the write lock); end it in this
    # thread rather than in the session dependency's exit, a thread hop later.
    session.close()
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/queries/{query.id}"})


@router.get("/v1/queries")
def list_queries(
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    status: str | None = None,
    limit: Annotated[int, QueryParam(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """``status=open``: the inbox of the answering side. Otherwise: asked and answered."""
    items, next_cursor = container.queries.list(
        session, principal=principal, status=status, cursor=cursor, limit=limit
    )
    return {"items": [_public(q, session, container) for q in items], "next": next_cursor}


@router.get("/v1/queries/{query_id}")
def read_query(
    query_id: str,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    service = container.queries
    query = service.get(session, principal=principal, query_id=query_id)
    view = _public(query, session, container)
    answer = service.read_answer(
        session, principal=principal, query=query, trace_id=request.state.trace_id
    )
    if answer is not None:
        view["answer"] = answer
    person = service.person_for_answerer(session, principal=principal, query=query)
    if person is not None:
        view["person"] = person
        view["parameters"] = service.parameters_for(query)
        view["note"] = service.note_for(query)
        view["answer_schema"] = container.policy.question(question_id=query.question).answer_schema
    session.commit()
    return view


@router.post("/v1/queries/{query_id}/answer")
def answer_query(
    query_id: str,
    body: AnswerCreate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    try:
        query = container.queries.answer(
            session,
            principal=principal,
            query_id=query_id,
            answer=body.answer,
            trace_id=request.state.trace_id,
        )
    except QueryCancelled:
        session.commit()  # the refusal is on the audit trail even though the request fails
        raise
    session.commit()
    return _public(query, session, container)


@router.post("/v1/queries/{query_id}/cancel")
def cancel_query(
    query_id: str,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    query = container.queries.cancel(
        session, principal=principal, query_id=query_id, trace_id=request.state.trace_id
    )
    session.commit()
    return _public(query, session, container)


@router.post("/v1/adapter-callbacks/{jobcenter_key}", include_in_schema=False)
async def adapter_callback(
    jobcenter_key: str, request: Request, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    """A jobcenter system's later answer, signed per Standard Webhooks with its secret."""
    secret = container.callback_secrets.get(jobcenter_key)
    if secret is None:
        raise NotFound("No callback is configured for this jobcenter.", slug="callback-unknown")
    body = await request.body()
    from adapters.rest import verify_callback

    try:
        message = verify_callback(secret=secret, headers=dict(request.headers), body=body)
    except AdapterProtocolError as exc:
        raise Unauthorized("The callback signature does not verify.", slug="bad-signature") from exc
    if not isinstance(message.get("answer"), dict) or not isinstance(message.get("query_id"), str):
        raise BadRequest("The callback body is not an answer.", slug="invalid-callback")
    query = container.queries.answer_from_adapter(
        session, jobcenter_key=jobcenter_key, query_id=message["query_id"], answer=message["answer"]
    )
    session.commit()
    return {"query_id": query.id, "status": query.status.value}
