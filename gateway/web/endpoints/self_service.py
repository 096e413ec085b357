"""The person's pages, without an account: the self-service code from the receipt, and the
one-time confirmation link for a consent given on their own phone.

Both speak the person's language (every language a consent text exists in,
right-to-left where needed); the consent texts bring the wording of the
consent itself, the gettext catalogues the rest of the page. Forms are
protected by a double-submit CSRF token, since there is no session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from gateway.consents import self_service
from gateway.consents.self_service import CodeAccess
from gateway.consents.service import last_day, normalise_code
from gateway.dependencies import SessionDep
from gateway.errors import NotFound
from gateway.organisations import repository as organisations
from gateway.web.composition import Web
from gateway.web.dependencies import AnonymousForm, WebDep
from gateway.web.forms import N_, Form
from gateway.web.i18n import DEFAULT_LANGUAGE, negotiate
from gateway.web.labels import category_label, purpose_label
from gateway.web.pages import WebRoute, redirect, render
from gateway.web.sessions import CSRF_COOKIE, new_token
from gateway.web.views import Names


def _person_pages(request: Request, web: WebDep, lang: str | None = None) -> None:
    """Before anything else: an unknown code, a used link or an expired form is answered by
    an error page in the person's layout and language, not by a page for staff."""
    _language(request, web, lang, None)


router = APIRouter(
    route_class=WebRoute, include_in_schema=False, dependencies=[Depends(_person_pages)]
)
# What the person sees of the trail: what was done with their data, not the plumbing.
SHOWN_EVENTS = (
    "consent.requested",
    "consent.granted",
    "consent.confirmed",
    "consent.amended",
    "consent.revoked",
    "consent.expired",
    "query.asked",
    "query.denied",
    "query.answered",
    "query.delivered",
    "query.cancelled",
    "query.expired",
    "query.answer_refused",
    "query.answer_deleted",
)
EVENT_WORDS = {
    "consent.requested": N_("Consent recorded, waiting for your confirmation"),
    "consent.granted": N_("Consent given"),
    "consent.confirmed": N_("Consent confirmed on your phone"),
    "consent.amended": N_("Consent changed"),
    "consent.revoked": N_("Consent withdrawn"),
    "consent.expired": N_("Consent expired"),
    "query.asked": N_("A question about you was asked"),
    "query.denied": N_("A question about you was refused"),
    "query.answered": N_("The question was answered"),
    "query.delivered": N_("The answer was read"),
    "query.cancelled": N_("The question was stopped"),
    "query.expired": N_("The question was not answered in time"),
    "query.answer_refused": N_("An answer was refused"),
    "query.answer_deleted": N_("The answer was deleted"),
}


def _language(request: Request, web: Web, chosen: str | None, preferred: str | None) -> str:
    offered = web.person_languages
    if chosen in offered:
        language = str(chosen)
    elif preferred in offered:
        language = str(preferred)
    else:
        language = negotiate(request.headers.get("accept-language"), offered, DEFAULT_LANGUAGE)
    request.state.person_language = language  # error pages speak it too
    return language


def _page(
    request: Request, web: Web, template: str, language: str, status: int = 200, **context: Any
) -> Response:
    cookie_name = web.cookies.name(CSRF_COOKIE)
    token = request.cookies.get(cookie_name) or new_token()
    response = render(
        request,
        web,
        template,
        viewer=None,
        language=language,
        status=status,
        languages=web.person_languages,
        csrf_token=token,
        **context,
    )
    if request.cookies.get(cookie_name) != token:
        response.set_cookie(
            cookie_name, token, httponly=True, secure=web.cookies.secure, samesite="strict"
        )
    return response


def _sections(web: Web, language: str) -> dict[str, Any]:
    text = web.container.consent_texts.get(language)
    return dict(text.sections)


@router.get("/self-service")
def code_form(request: Request, web: WebDep, lang: str | None = None) -> Response:
    language = _language(request, web, lang, None)
    return _page(request, web, "person/code.html", language, form=Form())


@router.post("/self-service")
def open_code(
    request: Request, web: WebDep, session: SessionDep, data: AnonymousForm, lang: str | None = None
) -> Response:
    language = _language(request, web, lang, None)
    form = Form.from_data(data)
    code = form.required("code", max_length=40)
    if code:
        try:
            self_service.open_code(session, consents=web.container.consents, code=code)
        except NotFound:
            form.fail("code", N_("This code is not known. Please check it against your receipt."))
    if not form.ok:
        return _page(request, web, "person/code.html", language, status=400, form=form)
    return redirect(f"/self-service/{normalise_code(code)}?lang={language}")


def _accesses(
    web: Web, session: Session, access: CodeAccess, language: str
) -> list[dict[str, Any]]:
    catalogue = web.container.policy.catalogue
    names = Names(session)
    sections = _sections(web, language)
    actions = dict(sections.get("access_report", {}).get("actions", {}))
    return [
        {
            "time": row.occurred_at,
            "organisation": names(row.organisation_id),
            "action": actions.get(row.event_type),
            "words": EVENT_WORDS.get(row.event_type, row.event_type),
            "purpose": purpose_label(catalogue, row.purpose, language) if row.purpose else "",
        }
        for row in self_service.events(session, access)
        if row.event_type in SHOWN_EVENTS
    ]


@router.get("/self-service/{code}")
def overview(
    code: str,
    request: Request,
    web: WebDep,
    session: SessionDep,
    lang: str | None = None,
    revoked: bool = False,
) -> Response:
    access = self_service.open_code(session, consents=web.container.consents, code=code)
    consent = access.consent
    language = _language(request, web, lang, consent.language)
    catalogue = web.container.policy.catalogue
    names = Names(session)
    return _page(
        request,
        web,
        "person/overview.html",
        language,
        code=normalise_code(code),
        texts=_sections(web, language),
        consent=consent,
        grantee=names(consent.grantee_id),
        jobcenter=names(consent.jobcenter_id),
        purposes=[purpose_label(catalogue, p, language) for p in consent.purposes],
        categories=[category_label(catalogue, c, language) for c in consent.categories],
        valid_until=last_day(consent.valid_until),
        accesses=_accesses(web, session, access, language),
        revocable=not consent.status.final,
        revoked=revoked,
    )


@router.get("/self-service/{code}/revoke")
def revoke_confirmation(
    code: str, request: Request, web: WebDep, session: SessionDep, lang: str | None = None
) -> Response:
    consent = self_service.open_code(session, consents=web.container.consents, code=code).consent
    language = _language(request, web, lang, consent.language)
    return _page(
        request,
        web,
        "person/revoke.html",
        language,
        code=normalise_code(code),
        texts=_sections(web, language),
        revocable=not consent.status.final,
    )


@router.post("/self-service/{code}/revoke")
def revoke(
    code: str,
    request: Request,
    web: WebDep,
    session: SessionDep,
    _form: AnonymousForm,
    lang: str | None = None,
) -> Response:
    consent = self_service.withdraw(
        session, consents=web.container.consents, code=code, trace_id=request.state.trace_id
    )
    session.commit()
    language = _language(request, web, lang, consent.language)
    return redirect(f"/self-service/{normalise_code(code)}?lang={language}&revoked=true")


# -- confirmation on the person's own phone -------------------------------------------


@router.get("/confirm/{token}")
def confirmation(
    token: str, request: Request, web: WebDep, session: SessionDep, lang: str | None = None
) -> Response:
    container = web.container
    consent = container.consents.by_confirmation(session, token=token)
    language = _language(request, web, lang, consent.language)
    organisation = organisations.get_organisation(session, consent.grantee_id)
    assert organisation is not None
    rendered = container.consents.render_text(
        session,
        terms_language=consent.language,
        purposes=consent.purposes,
        categories=consent.categories,
        directions=sorted(container.consents.facts(consent).directions),
        grantee=organisation,
        jobcenter_id=consent.jobcenter_id,
        valid_until=last_day(consent.valid_until),
    )
    return _page(
        request,
        web,
        "person/confirm.html",
        language,
        token=token,
        text=rendered,
        grantee=organisation.name,
        expires_at=consent.confirmation_expires_at,
    )


@router.post("/confirm/{token}")
def confirm(
    token: str,
    request: Request,
    web: WebDep,
    session: SessionDep,
    _form: AnonymousForm,
    lang: str | None = None,
) -> Response:
    consent = web.container.consents.confirm(session, token=token, trace_id=request.state.trace_id)
    session.commit()
    language = _language(request, web, lang, consent.language)
    code = web.container.consents.self_service_code(consent)
    return _page(
        request,
        web,
        "person/confirmed.html",
        language,
        texts=_sections(web, language),
        code=code,
        url=f"/self-service/{normalise_code(code)}?lang={language}",
    )
