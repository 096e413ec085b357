"""Question pages: ask from the catalogue, the jobcenter's inbox, answer, history, read answers."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from gateway.dependencies import SessionDep
from gateway.errors import GatewayError, NotFound
from gateway.organisations.models import OrganisationKind, Role
from gateway.policy.models import Direction, QuestionType
from gateway.queries.models import Query, QueryStatus
from gateway.queries.schemas import QueryCreate
from gateway.queries.service import QueryCancelled
from gateway.subjects.models import Subject
from gateway.web import evidence, people, repository
from gateway.web.composition import Web
from gateway.web.dependencies import CheckedForm, CurrentViewer, Viewer, WebDep
from gateway.web.forms import N_, Form, Message
from gateway.web.labels import question_label
from gateway.web.pages import WebRoute, redirect, render
from gateway.web.schema_forms import SchemaForm
from gateway.web.views import Names, consent_row, query_row, query_rows

router = APIRouter(route_class=WebRoute, include_in_schema=False)
ASKING_ROLES = (Role.INTEGRATION_MANAGER, Role.JOBCENTER_STAFF)
STATUS_FILTERS = tuple(status.value for status in QueryStatus)


def _direction(viewer: Viewer) -> Direction:
    if viewer.organisation.kind is OrganisationKind.JOBCENTER:
        return Direction.JOBCENTER_ASKS_MUNICIPALITY
    return Direction.MUNICIPALITY_ASKS_JOBCENTER


def _questions(web: Web, session: Session, viewer: Viewer, subject: Subject) -> list[QuestionType]:
    """Questions of the viewer's side whose purpose an active consent about the person
    covers, and those a statute allows about a person the viewer's organisation registered."""
    subject_id = subject.id
    own_case = subject.registered_by == viewer.organisation.id
    direction = _direction(viewer)
    purposes: set[str] = set()
    for consent_id in repository.consent_ids_about(
        session, organisation_id=viewer.organisation.id, subject_id=subject_id, limit=50
    ):
        try:
            consent = web.container.consents.get(
                session, principal=viewer.principal, consent_id=consent_id
            )
        except NotFound:
            continue
        if consent.status.value == "active" and direction.value in consent.directions:
            purposes.update(consent.purposes)
    return [
        q
        for q in web.container.policy.catalogue.questions.values()
        if q.direction is direction
        and (q.purpose in purposes if q.legal_basis.needs_consent else own_case)
    ]


def _ask_page(
    request: Request,
    web: Web,
    session: Session,
    viewer: Viewer,
    person: people.Person,
    form: Form,
    status: int,
) -> Response:
    questions = _questions(web, session, viewer, person.subject)
    chosen = web.container.policy.catalogue.questions.get(form.text("question"))
    if chosen is not None and chosen not in questions:
        chosen = None
    fields = []
    if chosen is not None and chosen.parameters_schema:
        fields = SchemaForm(chosen.parameters_schema, prefix="parameters").fields(
            form.values, form.errors
        )
    return render(
        request,
        web,
        "queries/ask.html",
        viewer=viewer,
        section="persons",
        status=status,
        person=person,
        form=form,
        question_options=[
            (q.id, question_label(web.container.policy.catalogue, q.id, viewer.language))
            for q in questions
        ],
        chosen=chosen,
        chosen_label=question_label(web.container.policy.catalogue, chosen.id, viewer.language)
        if chosen
        else "",
        fields=fields,
    )


@router.get("/web/persons/{subject_id}/queries/new")
def ask_form(
    subject_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    question: str | None = None,
) -> Response:
    viewer.require(*ASKING_ROLES)
    person = people.visible(
        session, container=web.container, principal=viewer.principal, subject_id=subject_id
    )
    # A fresh key per form: a form sent twice asks once (the service's Idempotency-Key).
    form = Form(values={"question": question or "", "idempotency_key": secrets.token_urlsafe(16)})
    return _ask_page(request, web, session, viewer, person, form, 200)


@router.post("/web/persons/{subject_id}/queries")
def ask(
    subject_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    data: CheckedForm,
) -> Response:
    viewer.require(*ASKING_ROLES)
    container = web.container
    person = people.visible(
        session, container=container, principal=viewer.principal, subject_id=subject_id
    )
    form = Form.from_data(data)
    questions = {q.id: q for q in _questions(web, session, viewer, person.subject)}
    question_id = form.choice("question", list(questions))
    key = form.text("idempotency_key") or secrets.token_urlsafe(16)
    parameters: dict[str, Any] | None = None
    note = None
    if question_id is not None:
        question = questions[question_id]
        if question.parameters_schema and not form.text("_add_row"):
            parameters, errors = SchemaForm(question.parameters_schema, prefix="parameters").parse(
                form.values
            )
            for name, message in errors.items():
                form.errors.setdefault(name, message)
        if question.free_text:
            note = form.optional("note", max_length=2000)
    if form.text("_add_row") or not form.ok or question_id is None:
        return _ask_page(request, web, session, viewer, person, form, 200 if form.ok else 400)
    asked = container.queries.ask(
        session,
        principal=viewer.principal,
        body=QueryCreate(
            subject_id=subject_id,
            question=question_id,
            purpose=questions[question_id].purpose,
            parameters=parameters or None,
            note=note,
        ),
        idempotency_key=f"web-{key}",
        trace_id=request.state.trace_id,
    )
    session.commit()  # the decision is on the audit trail before anything leaves
    if asked.query.status is QueryStatus.RECEIVED and not asked.replay:
        container.queries.route(container.engine, asked.query.id, claimed=True)
    return redirect(f"/web/queries/{asked.query.id}")


@router.get("/web/queries")
def history(
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    status: str | None = None,
) -> Response:
    viewer.require(*ASKING_ROLES)
    chosen = status if status in STATUS_FILTERS else None
    rows = _visible_queries(
        web,
        session,
        viewer,
        repository.query_ids_of(
            session,
            organisation_id=viewer.organisation.id,
            statuses=[chosen] if chosen else None,
            answering_only=False,
            limit=100,
        ),
    )
    return render(
        request,
        web,
        "queries/list.html",
        viewer=viewer,
        section="queries",
        queries=query_rows(web, session, rows, viewer.language),
        status_filter=chosen or "",
        status_options=STATUS_FILTERS,
    )


@router.get("/web/inbox")
def inbox(request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep) -> Response:
    viewer.require(Role.JOBCENTER_STAFF, Role.INTEGRATION_MANAGER)
    rows = _visible_queries(
        web,
        session,
        viewer,
        repository.query_ids_of(
            session,
            organisation_id=viewer.organisation.id,
            statuses=[QueryStatus.ROUTED.value],
            answering_only=True,
            limit=100,
        ),
    )
    rows.sort(key=lambda q: q.deadline)
    names = Names(session)
    items = []
    for query in rows:
        item: dict[str, Any] = {
            "query": query_row(web, names, query, viewer.language),
            "consent": None,  # a statute allows the question
            "check": None,
        }
        if query.consent_id is not None:
            consent = web.container.consents.get(
                session, principal=viewer.principal, consent_id=query.consent_id
            )
            item["consent"] = consent_row(web, names, consent, viewer.language)
            item["check"] = evidence.check(web.container, session, consent)
        items.append(item)
    return render(request, web, "queries/inbox.html", viewer=viewer, section="inbox", items=items)


def _visible_queries(web: Web, session: Session, viewer: Viewer, ids: list[str]) -> list[Query]:
    visible = []
    for query_id in ids:
        try:
            visible.append(
                web.container.queries.get(session, principal=viewer.principal, query_id=query_id)
            )
        except NotFound:
            continue
    return visible


def _detail_page(
    request: Request,
    web: Web,
    session: Session,
    viewer: Viewer,
    query: Query,
    form: Form,
    status: int = 200,
    answered: bool = False,
    problem: str | None = None,
) -> Response:
    container = web.container
    service = container.queries
    names = Names(session)
    answer = service.read_answer(
        session, principal=viewer.principal, query=query, trace_id=request.state.trace_id
    )
    session.commit()  # the first read of an answer is its delivery, on the audit trail
    person = service.person_for_answerer(session, principal=viewer.principal, query=query)
    consent = None
    check = None
    fields = []
    parameters: list[tuple[tuple[str, ...], Any]] = []
    if person is not None:
        question = container.policy.question(question_id=query.question)
        removed: tuple[str, ...] = ()
        if query.consent_id is not None:  # else a statute allows the question
            consent_model = container.consents.get(
                session, principal=viewer.principal, consent_id=query.consent_id
            )
            consent = consent_row(web, names, consent_model, viewer.language)
            check = evidence.check(container, session, consent_model)
            removed = container.policy.drop_fields(
                question=question, consent=container.consents.facts(consent_model)
            )
        fields = SchemaForm(question.answer_schema, prefix="answer", removed=removed).fields(
            form.values, form.errors
        )
        parameters = _flatten(service.parameters_for(query) or {})
    reasons = [
        (
            container.policy.reasons[code].titles.get(viewer.language, code)
            if code in container.policy.reasons
            else code
        )
        for code in query.reasons
    ]
    return render(
        request,
        web,
        "queries/detail.html",
        viewer=viewer,
        section="inbox" if person is not None else "queries",
        status=status,
        query=query_row(web, names, query, viewer.language),
        answer=_flatten(answer) if answer is not None else None,
        person=person,
        parameters=parameters,
        note=service.note_for(query) if person is not None else None,
        consent=consent,
        check=check,
        fields=fields,
        form=form,
        reasons=reasons,
        answered=answered,
        problem=problem,
        may_cancel=query.asker_org_id == viewer.organisation.id and query.status.open,
    )


def _flatten(value: Any, parts: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """An answer as (path, value) lines; the page puts the schema's field words on the path."""
    lines: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            lines.extend(_flatten(item, (*parts, str(key))))
    elif isinstance(value, list):
        for index, item in enumerate(value, start=1):
            lines.extend(_flatten(item, (*parts, str(index))))
    else:
        lines.append((parts, value))
    return lines


@router.get("/web/queries/{query_id}")
def query_page(
    query_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    answered: bool = False,
) -> Response:
    viewer.require(*ASKING_ROLES)
    query = web.container.queries.get(session, principal=viewer.principal, query_id=query_id)
    return _detail_page(request, web, session, viewer, query, Form(), answered=answered)


@router.post("/web/queries/{query_id}/answer")
def answer(
    query_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    data: CheckedForm,
) -> Response:
    viewer.require(*ASKING_ROLES)
    container = web.container
    query = container.queries.get(session, principal=viewer.principal, query_id=query_id)
    form = Form.from_data(data)
    if form.text("_add_row"):
        return _detail_page(request, web, session, viewer, query, form)
    question = container.policy.question(question_id=query.question)
    document, errors = SchemaForm(question.answer_schema, prefix="answer").parse(form.values)
    form.errors.update(errors)
    if not form.ok:
        return _detail_page(request, web, session, viewer, query, form, status=400)
    try:
        container.queries.answer(
            session,
            principal=viewer.principal,
            query_id=query_id,
            answer=document,
            trace_id=request.state.trace_id,
        )
    except QueryCancelled:
        session.commit()  # the refused answer is on the audit trail
        raise
    except GatewayError as exc:
        if exc.type_slug != "invalid-answer":
            raise
        session.rollback()
        form.errors.setdefault("answer", Message(N_("The answer does not match the question.")))
        return _detail_page(
            request, web, session, viewer, query, form, status=400, problem=exc.detail
        )
    session.commit()
    return redirect(f"/web/queries/{query_id}?answered=true")


@router.post("/web/queries/{query_id}/cancel")
def cancel(
    query_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    _form: CheckedForm,
) -> Response:
    viewer.require(*ASKING_ROLES)
    web.container.queries.cancel(
        session, principal=viewer.principal, query_id=query_id, trace_id=request.state.trace_id
    )
    session.commit()
    return redirect(f"/web/queries/{query_id}")
