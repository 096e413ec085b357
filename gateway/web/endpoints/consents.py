"""Consent pages: capture with the person (terms, text and evidence), detail, receipt, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from gateway.consents import receipts
from gateway.consents.models import Consent
from gateway.consents.receipt_reading import read_receipt
from gateway.consents.schemas import RevokeRequest
from gateway.dependencies import SessionDep
from gateway.errors import GatewayError, NotFound
from gateway.organisations.models import Role
from gateway.web import capture, evidence, people
from gateway.web.composition import Web
from gateway.web.dependencies import CheckedForm, CurrentViewer, Viewer, WebDep
from gateway.web.forms import N_, REVOCATION_CHANNELS, Form
from gateway.web.i18n import LANGUAGE_NAMES
from gateway.web.labels import category_label, purpose_label
from gateway.web.pages import WebRoute, redirect, render
from gateway.web.rendering import SECURITY_HEADERS
from gateway.web.views import Names, consent_row

router = APIRouter(route_class=WebRoute, include_in_schema=False)
CONSENT_ROLES = (Role.INTEGRATION_MANAGER, Role.JOBCENTER_STAFF, Role.DPO)


def _options(web: Web, session: Session, viewer: Viewer) -> dict[str, Any]:
    catalogue = web.container.policy.catalogue
    language = viewer.language
    return {
        "purpose_options": [(p, purpose_label(catalogue, p, language)) for p in catalogue.purposes],
        "category_options": [
            (c, category_label(catalogue, c, language)) for c in catalogue.categories
        ],
        "special_options": [
            (c, category_label(catalogue, c, language))
            for c in sorted(catalogue.special_categories())
        ],
        "jobcenter_options": [(o.id, o.name) for o in capture.jobcenters(session)],
        "capacity_age": web.container.policy.limits.consent_capacity_age,
        "language_options": [
            (code, LANGUAGE_NAMES.get(code, code)) for code in web.container.consent_texts.languages
        ],
    }


def _terms_page(
    request: Request,
    web: Web,
    session: Session,
    viewer: Viewer,
    person: people.Person,
    form: Form,
    status: int,
) -> Response:
    return render(
        request,
        web,
        "consents/terms.html",
        viewer=viewer,
        section="persons",
        status=status,
        person=person,
        form=form,
        **_options(web, session, viewer),
    )


def _parse(web: Web, session: Session, form: Form) -> capture.Terms | None:
    return capture.parse_terms(
        form,
        engine=web.container.policy,
        languages=web.container.consent_texts.languages,
        jobcenter_ids=[o.id for o in capture.jobcenters(session)],
    )


def _review_page(
    request: Request,
    web: Web,
    session: Session,
    viewer: Viewer,
    person: people.Person,
    form: Form,
    terms: capture.Terms,
    status: int,
) -> Response:
    container = web.container
    texts = {}
    for language in dict.fromkeys([terms.language, "de"]):
        texts[language] = container.consents.render_text(
            session,
            terms_language=language,
            purposes=terms.purposes,
            categories=terms.categories,
            directions=terms.directions,
            grantee=viewer.organisation,
            jobcenter_id=terms.jobcenter_id,
            valid_until=terms.valid_until,
        )
    shown = texts[terms.language]
    return render(
        request,
        web,
        "consents/review.html",
        viewer=viewer,
        section="persons",
        status=status,
        person=person,
        form=form,
        terms=terms,
        texts=list(texts.values()),
        shown=shown,
        term_fields=capture.TERM_FIELDS,
        list_fields=capture.LIST_FIELDS,
    )


@router.get("/web/persons/{subject_id}/consents/new")
def new_consent(
    subject_id: str, request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    viewer.require(Role.INTEGRATION_MANAGER)
    person = people.visible(
        session, container=web.container, principal=viewer.principal, subject_id=subject_id
    )
    form = Form(values=capture.defaults(session, web.container.policy, viewer.organisation))
    return _terms_page(request, web, session, viewer, person, form, 200)


@router.post("/web/persons/{subject_id}/consents/new")
def review_consent(
    subject_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    data: CheckedForm,
) -> Response:
    """Step two: the text in the person's language next to the German one, and the evidence."""
    viewer.require(Role.INTEGRATION_MANAGER)
    person = people.visible(
        session, container=web.container, principal=viewer.principal, subject_id=subject_id
    )
    form = Form.from_data(data, lists=capture.LIST_FIELDS)
    terms = _parse(web, session, form)
    if form.text("_back"):
        return _terms_page(request, web, session, viewer, person, Form(values=form.values), 200)
    if terms is None:
        return _terms_page(request, web, session, viewer, person, form, 400)
    try:
        return _review_page(
            request, web, session, viewer, person, Form(values=form.values), terms, 200
        )
    except GatewayError as exc:
        if not capture.place_error(form, exc):
            raise
        return _terms_page(request, web, session, viewer, person, form, 400)


@router.post("/web/persons/{subject_id}/consents")
def record_consent(
    subject_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    data: CheckedForm,
) -> Response:
    viewer.require(Role.INTEGRATION_MANAGER)
    container = web.container
    person = people.visible(
        session, container=container, principal=viewer.principal, subject_id=subject_id
    )
    form = Form.from_data(data, lists=capture.LIST_FIELDS)
    terms = _parse(web, session, form)
    if terms is None:
        return _terms_page(request, web, session, viewer, person, form, 400)
    proof = capture.parse_evidence(form, terms)
    if proof is None:
        return _review_page(request, web, session, viewer, person, form, terms, 400)
    try:
        recorded = container.consents.record(
            session,
            principal=viewer.principal,
            body=capture.consent_create(subject_id, terms, proof),
            trace_id=request.state.trace_id,
        )
    except GatewayError as exc:
        session.rollback()
        if exc.type_slug in {"text-version-outdated", "text-mismatch"}:
            form.fail("text", N_("The text has changed meanwhile. Please show it again."))
            return _review_page(request, web, session, viewer, person, form, terms, 409)
        if not capture.place_error(form, exc):
            raise
        return _terms_page(request, web, session, viewer, person, form, 400)
    session.commit()
    consent = recorded.consent
    if recorded.confirmation_token is None:
        return redirect(f"/web/consents/{consent.id}?recorded=true")
    # The one-time link exists only now (the gateway keeps its hash): show it at once.
    url = f"{container.settings.issuer}/confirm/{recorded.confirmation_token}"
    return render(
        request,
        web,
        "consents/phone.html",
        viewer=viewer,
        section="persons",
        status=201,
        consent=consent,
        url=url,
        qr=receipts.qr_svg(url),
    )


@router.get("/web/consents/{consent_id}")
def consent_page(
    consent_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    recorded: bool = False,
    revoked: bool = False,
) -> Response:
    viewer.require(*CONSENT_ROLES)
    container = web.container
    consent = container.consents.get(session, principal=viewer.principal, consent_id=consent_id)
    return render(
        request,
        web,
        "consents/detail.html",
        viewer=viewer,
        section="persons",
        consent=consent_row(web, Names(session), consent, viewer.language),
        check=evidence.check(container, session, consent),
        may_revoke=viewer.role is not Role.DPO and not consent.status.final,
        recorded=recorded,
        revoked=revoked,
    )


@router.get("/web/consents/{consent_id}/signature")
def consent_signature(
    consent_id: str, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    viewer.require(*CONSENT_ROLES)
    consent = web.container.consents.get(session, principal=viewer.principal, consent_id=consent_id)
    data = evidence.signature_png(web.container, consent)
    if data is None:
        raise NotFound("This consent has no signature drawn on screen.", slug="no-signature")
    return Response(data, media_type="image/png", headers=SECURITY_HEADERS)


@router.get("/web/consents/{consent_id}/receipt")
def consent_receipt(
    consent_id: str, request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    """The printable receipt in the person's language, the same as the API's."""
    container = web.container
    read = read_receipt(
        session,
        consents=container.consents,
        keys=container.keys,
        issuer=container.settings.issuer,
        principal=viewer.principal,
        consent_id=consent_id,
        form="printable",
        trace_id=request.state.trace_id,
    )
    session.commit()
    code = read.self_service_code
    issuer = container.settings.issuer
    html = receipts.render_html(
        receipt=read.receipt,
        consent=read.consent,
        texts=container.consent_texts,
        catalogue=container.policy.catalogue,
        self_service_code=code,
        self_service_url=f"{issuer}/self-service/{code}" if code else None,
        verify_url=f"{issuer}/.well-known/jwks.json",
    )
    # The receipt brings its own print styles inline.
    csp = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Content-Security-Policy": csp})


@router.get("/web/consents/{consent_id}/revoke")
def revoke_form(
    consent_id: str, request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    viewer.require(Role.INTEGRATION_MANAGER, Role.JOBCENTER_STAFF)
    consent = web.container.consents.get(session, principal=viewer.principal, consent_id=consent_id)
    return _revoke_page(request, web, session, viewer, consent_id, consent, Form(), 200)


def _revoke_page(
    request: Request,
    web: Web,
    session: Session,
    viewer: Viewer,
    consent_id: str,
    consent: Consent,
    form: Form,
    status: int,
) -> Response:
    return render(
        request,
        web,
        "consents/revoke.html",
        viewer=viewer,
        section="persons",
        status=status,
        consent=consent_row(web, Names(session), consent, viewer.language),
        form=form,
        channels=REVOCATION_CHANNELS,
    )


@router.post("/web/consents/{consent_id}/revoke")
def revoke(
    consent_id: str,
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
    data: CheckedForm,
) -> Response:
    viewer.require(Role.INTEGRATION_MANAGER, Role.JOBCENTER_STAFF)
    container = web.container
    consent = container.consents.get(session, principal=viewer.principal, consent_id=consent_id)
    form = Form.from_data(data)
    channel = form.choice("channel", REVOCATION_CHANNELS)
    reason = form.optional("reason", max_length=1000)
    if not form.ok or channel is None:
        return _revoke_page(request, web, session, viewer, consent_id, consent, form, 400)
    container.consents.revoke(
        session,
        principal=viewer.principal,
        consent_id=consent_id,
        body=RevokeRequest(channel=channel, reason=reason),
        trace_id=request.state.trace_id,
    )
    session.commit()
    return redirect(f"/web/consents/{consent_id}?revoked=true")
