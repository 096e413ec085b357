"""Find or register a person, and the person's page (consents, questions, next steps)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.dependencies import SessionDep
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.organisations.models import Role
from gateway.subjects.service import Identity
from gateway.web import people, repository
from gateway.web.dependencies import CheckedForm, CurrentViewer, Viewer, WebDep
from gateway.web.forms import CUSTOMER_NUMBER, N_, Form
from gateway.web.pages import WebRoute, redirect, render
from gateway.web.views import consent_rows, query_rows

router = APIRouter(route_class=WebRoute, include_in_schema=False)
PEOPLE_ROLES = (Role.INTEGRATION_MANAGER, Role.JOBCENTER_STAFF)


def _index(
    request: Request, web: WebDep, viewer: Viewer, session: SessionDep, form: Form, status: int
) -> Response:
    return render(
        request,
        web,
        "persons/index.html",
        viewer=viewer,
        section="persons",
        status=status,
        form=form,
        people=people.known(
            session,
            principal=viewer.principal,
            guard=web.container.guard,
            routing=web.container.policy.routing,
            sealer=web.container.sealer,
        ),
    )


@router.get("/web/persons")
def persons(request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep) -> Response:
    viewer.require(*PEOPLE_ROLES)
    return _index(request, web, viewer, session, Form(), 200)


@router.post("/web/persons")
def find_or_register(
    request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep, data: CheckedForm
) -> Response:
    viewer.require(*PEOPLE_ROLES)
    form = Form.from_data(data)
    given = form.required("given_name")
    family = form.required("family_name")
    birth_date = form.date("birth_date")
    if birth_date is not None and not date(1900, 1, 1) <= birth_date <= date.today():
        form.fail("birth_date", N_("The birth date is not plausible."))
    number = form.optional("customer_number", max_length=30)
    if number and not CUSTOMER_NUMBER.match(number):
        form.fail("customer_number", N_("3 to 30 letters, digits or hyphens."))
    if form.ok:
        assert birth_date is not None
        try:
            registration = people.register_or_find(
                session,
                principal=viewer.principal,
                guard=web.container.guard,
                routing=web.container.policy.routing,
                sealer=web.container.sealer,
                audit=web.container.audit,
                identity=Identity(
                    given_name=given,
                    family_name=family,
                    birth_date=birth_date,
                    jobcenter_customer_number=number,
                ),
                another_person=bool(form.text("another_person")),
                trace_id=request.state.trace_id,
            )
        except Conflict:
            form.fail(
                "customer_number",
                N_(
                    "Your organisation registered a person with this name and birth date "
                    "under another customer number. Check the number."
                ),
            )
        except BadRequest as exc:
            if exc.type_slug == "invalid-birth-date":
                form.fail("birth_date", N_("The birth date is not plausible."))
            else:
                form.fail("given_name", N_("Given and family name must contain letters."))
        else:
            session.commit()
            return redirect(f"/web/persons/{registration.subject.id}")
    return _index(request, web, viewer, session, form, 400)


@router.get("/web/persons/{subject_id}")
def person(
    subject_id: str, request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    viewer.require(*PEOPLE_ROLES)
    container = web.container
    found = people.visible(
        session, container=container, principal=viewer.principal, subject_id=subject_id
    )
    consents = []
    for consent_id in repository.consent_ids_about(
        session, organisation_id=viewer.organisation.id, subject_id=subject_id, limit=50
    ):
        try:
            consents.append(
                container.consents.get(session, principal=viewer.principal, consent_id=consent_id)
            )
        except NotFound:
            continue  # the policy has the last word on every consent
    queries = []
    for query_id in repository.query_ids_about(
        session, organisation_id=viewer.organisation.id, subject_id=subject_id, limit=50
    ):
        try:
            queries.append(
                container.queries.get(session, principal=viewer.principal, query_id=query_id)
            )
        except NotFound:
            continue
    return render(
        request,
        web,
        "persons/detail.html",
        viewer=viewer,
        section="persons",
        person=found,
        consents=consent_rows(web, session, consents, viewer.language),
        queries=query_rows(web, session, queries, viewer.language),
        can_ask=any(c.status.value == "active" for c in consents),
    )
