"""HTTP routes of consents (record, read, amend, pause, resume, revoke), the one-time
confirmation link and the person's self-service code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.audit import reports
from gateway.bootstrap import Container
from gateway.consents import receipts
from gateway.consents import self_service as code_access
from gateway.consents.models import Consent, ConsentStatus
from gateway.consents.receipt_reading import read_receipt
from gateway.consents.schemas import (
    ConsentCreate,
    ConsentPublic,
    ConsentTerms,
    GivenByPublic,
    RevokeRequest,
    StatusChangeRequest,
    StatusReasonPublic,
    TextRequest,
    UsePublic,
)
from gateway.consents.service import Use, last_day
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.organisations import repository as organisations
from gateway.security_headers import PRINTABLE_PAGE_POLICY

router = APIRouter(tags=["consents"])


def public(
    container: Container,
    consent: Consent,
    *,
    use: dict[str, Use],
    confirmation_url: str | None = None,
) -> dict[str, Any]:
    reason = container.consents.status_reason(consent)
    view = ConsentPublic(
        id=consent.id,
        version=consent.version,
        previous_id=consent.previous_id,
        status=consent.status.value,
        status_reason=StatusReasonPublic(**reason) if reason else None,
        status_changed_at=consent.status_changed_at,
        subject_id=consent.subject_id,
        grantee_id=consent.grantee_id,
        jobcenter_id=consent.jobcenter_id,
        named_users=consent.named_users,
        purposes=consent.purposes,
        categories=consent.categories,
        explicit_special_categories=consent.explicit_special_categories,
        directions=consent.directions,
        use_limits=consent.use_limits,
        use={
            question: UsePublic(count=used.count, last_used_at=used.last_used_at)
            for question, used in use.items()
        },
        valid_from=consent.valid_from,
        valid_until=consent.valid_until,
        language=consent.language,
        text_version=consent.text_version,
        text_sha256=consent.text_sha256,
        evidence_channel=consent.evidence_channel.value,
        given_by=GivenByPublic(**container.consents.given_by(consent)),
        attachment_sha256=consent.attachment_sha256,
        recorded_at=consent.recorded_at,
        activated_at=consent.activated_at,
        ended_at=consent.ended_at,
        revocation_channel=consent.revocation_channel,
        links={
            "self": f"/v1/consents/{consent.id}",
            "receipt": f"/v1/consents/{consent.id}/receipt",
            "revoke": f"/v1/consents/{consent.id}/revoke",
            "pause": f"/v1/consents/{consent.id}/pause",
            "resume": f"/v1/consents/{consent.id}/resume",
        },
        confirmation_url=confirmation_url,
        confirmation_expires_at=consent.confirmation_expires_at if confirmation_url else None,
    )
    return view.model_dump(mode="json", exclude_none=True)


def one(
    container: Container,
    session: SessionDep,
    consent: Consent,
    *,
    confirmation_url: str | None = None,
) -> dict[str, Any]:
    use = container.consents.usage(session, [consent])[consent.id]
    return public(container, consent, use=use, confirmation_url=confirmation_url)


def _confirmation_url(container: Container, token: str | None) -> str | None:
    return f"{container.settings.issuer}/confirm/{token}" if token else None


@router.post("/v1/consent-texts")
def render_consent_text(
    body: TextRequest, principal: CurrentPrincipal, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    """The exact text to show the person for these terms, with its version and SHA-256."""
    grantee = organisations.get_organisation(session, principal.organisation_id)
    assert grantee is not None
    rendered = container.consents.render_text(
        session,
        terms_language=body.language,
        purposes=body.purposes,
        categories=body.categories,
        directions=body.directions,
        grantee=grantee,
        jobcenter_id=body.jobcenter_id,
        valid_until=body.valid_until,
    )
    return {
        "language": rendered.language,
        "direction": rendered.direction,
        "version": rendered.version,
        "sha256": rendered.sha256,
        "text": rendered.text,
    }


@router.post("/v1/consents", status_code=201)
def record_consent(
    body: ConsentCreate,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> JSONResponse:
    recorded = container.consents.record(
        session, principal=principal, body=body, trace_id=request.state.trace_id
    )
    session.commit()
    url = _confirmation_url(container, recorded.confirmation_token)
    return JSONResponse(
        one(container, session, recorded.consent, confirmation_url=url),
        status_code=201,
        headers={"Location": f"/v1/consents/{recorded.consent.id}"},
    )


@router.get("/v1/consents")
def list_consents(
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    subject: str | None = None,
    status: Annotated[list[ConsentStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = container.consents.list(
        session,
        principal=principal,
        subject_id=subject,
        statuses=status,
        cursor=cursor,
        limit=limit,
    )
    use = container.consents.usage(session, items)
    return {
        "items": [public(container, c, use=use[c.id]) for c in items],
        "next": next_cursor,
    }


# Before /v1/consents/{consent_id}, which would take "verify" for an id.
@router.get("/v1/consents/verify")
def verify_consent(
    code: Annotated[str, Query(min_length=1, max_length=20)],
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Jobcenter staff check the one-time code the integration manager read to them: the
    consent's scope, parties, validity and status; of the person only the pseudonym."""
    checked = container.verification.check(
        session, principal=principal, code=code, trace_id=request.state.trace_id
    )
    session.commit()  # a failed check is audited and counted, too
    if checked.problem is not None:
        raise checked.problem
    consent = checked.consent
    assert consent is not None
    names = {
        org.id: {"id": org.id, "name": org.name, "key": org.official_key}
        for org in (
            organisations.get_organisation(session, consent.grantee_id),
            organisations.get_organisation(session, consent.jobcenter_id),
        )
        if org is not None
    }
    return {
        "consent_id": consent.id,
        "version": consent.version,
        "subject_id": consent.subject_id,
        "status": consent.status.value,
        "status_reason": container.consents.status_reason(consent),
        "grantee": names.get(consent.grantee_id),
        "jobcenter": names.get(consent.jobcenter_id),
        "purposes": consent.purposes,
        "categories": consent.categories,
        "explicit_special_categories": consent.explicit_special_categories,
        "directions": consent.directions,
        "valid_from": consent.valid_from,
        "valid_until": consent.valid_until,
    }


@router.get("/v1/consents/{consent_id}")
def read_consent(
    consent_id: str, principal: CurrentPrincipal, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    consent = container.consents.get(session, principal=principal, consent_id=consent_id)
    return one(container, session, consent)


@router.post("/v1/consents/{consent_id}/amend", status_code=201)
def amend_consent(
    consent_id: str,
    body: ConsentTerms,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> JSONResponse:
    """A new version linked to this one; this one ends when the new one is in force."""
    recorded = container.consents.amend(
        session,
        principal=principal,
        consent_id=consent_id,
        terms=body,
        trace_id=request.state.trace_id,
    )
    session.commit()
    url = _confirmation_url(container, recorded.confirmation_token)
    return JSONResponse(
        one(container, session, recorded.consent, confirmation_url=url), status_code=201
    )


@router.post("/v1/consents/{consent_id}/revoke")
def revoke_consent(
    consent_id: str,
    body: RevokeRequest,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """End the consent: ``withdrawn`` when ``channel`` names how the person told you,
    ``revoked`` for ``case_system`` (your organisation ends it). Final either way."""
    consent = container.consents.revoke(
        session,
        principal=principal,
        consent_id=consent_id,
        body=body,
        trace_id=request.state.trace_id,
    )
    session.commit()
    return one(container, session, consent)


@router.post("/v1/consents/{consent_id}/verification-code", status_code=201)
def issue_verification_code(
    consent_id: str,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> JSONResponse:
    """A one-time code to read to jobcenter staff on the phone (valid for minutes, once)."""
    issued = container.verification.issue(
        session, principal=principal, consent_id=consent_id, trace_id=request.state.trace_id
    )
    session.commit()
    return JSONResponse(
        {"code": issued.code, "expires_at": issued.expires_at.isoformat()},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/v1/consents/{consent_id}/pause")
def pause_consent(
    consent_id: str,
    body: StatusChangeRequest,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Nothing flows under a paused consent until it is resumed; open queries are cancelled."""
    consent = container.consents.pause(
        session,
        principal=principal,
        consent_id=consent_id,
        body=body,
        trace_id=request.state.trace_id,
    )
    session.commit()
    return one(container, session, consent)


@router.post("/v1/consents/{consent_id}/resume")
def resume_consent(
    consent_id: str,
    body: StatusChangeRequest,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    """A paused consent permits again, unless another jobcenter is now responsible."""
    consent = container.consents.resume(
        session,
        principal=principal,
        consent_id=consent_id,
        body=body,
        trace_id=request.state.trace_id,
    )
    session.commit()
    return one(container, session, consent)


@router.get("/v1/consents/{consent_id}/receipt", response_model=None)
def consent_receipt(
    consent_id: str,
    request: Request,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> Response:
    """``application/json``: the signed receipt; ``text/html``: the printable page.

    The self-service code is in it only for the integration managers of the
    organisation that recorded the consent (to hand to the person)."""
    accept = request.headers.get("accept", "application/json")
    printable = "text/html" in accept and "application/json" not in accept.split(",")[0]
    read = read_receipt(
        session,
        consents=container.consents,
        keys=container.keys,
        issuer=container.settings.issuer,
        principal=principal,
        consent_id=consent_id,
        form="printable" if printable else "jws",
        trace_id=request.state.trace_id,
    )
    session.commit()
    issuer = container.settings.issuer
    code = read.self_service_code
    self_service_url = f"{issuer}/self-service/{code}" if code else None
    if printable:
        html = receipts.render_html(
            receipt=read.receipt,
            consent=read.consent,
            texts=container.consent_texts,
            catalogue=container.policy.catalogue,
            self_service_code=code,
            self_service_url=self_service_url,
            verify_url=f"{issuer}/.well-known/jwks.json",
        )
        # The page carries the self-service code: its own inline print styles, nothing else.
        return HTMLResponse(
            html,
            headers={"Cache-Control": "no-store", "Content-Security-Policy": PRINTABLE_PAGE_POLICY},
        )
    body: dict[str, Any] = {
        "jws": read.receipt.jws,
        "kid": read.receipt.kid,
        "receipt": read.receipt.payload,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
    }
    if code:
        body |= {"self_service_code": code, "self_service_url": self_service_url}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# -- the person, without an account ------------------------------------------------


@router.get("/v1/confirmations/{token}")
def show_confirmation(token: str, container: ContainerDep, session: SessionDep) -> dict[str, Any]:
    """What the person is asked to confirm on their own phone: the exact text and its hash."""
    consent = container.consents.by_confirmation(session, token=token)
    grantee = organisations.get_organisation(session, consent.grantee_id)
    assert grantee is not None
    rendered = container.consents.render_text(
        session,
        terms_language=consent.language,
        purposes=consent.purposes,
        categories=consent.categories,
        directions=sorted(container.consents.facts(consent).directions),
        grantee=grantee,
        jobcenter_id=consent.jobcenter_id,
        valid_until=last_day(consent.valid_until),
    )
    return {
        "consent_id": consent.id,
        "language": rendered.language,
        "direction": rendered.direction,
        "text": rendered.text,
        "text_sha256": consent.text_sha256,
        "expires_at": consent.confirmation_expires_at,
    }


@router.post("/v1/confirmations/{token}")
def confirm(
    token: str, request: Request, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    consent = container.consents.confirm(session, token=token, trace_id=request.state.trace_id)
    session.commit()
    return {"consent_id": consent.id, "status": consent.status.value}


@router.get("/v1/self-service/{code}")
def self_service(code: str, container: ContainerDep, session: SessionDep) -> dict[str, Any]:
    """The person's view: what they agreed to and every access under it."""
    access = code_access.open_code(session, consents=container.consents, code=code)
    consent = access.consent
    names = {
        org.id: org.name
        for org in (
            organisations.get_organisation(session, consent.grantee_id),
            organisations.get_organisation(session, consent.jobcenter_id),
        )
        if org is not None
    }
    return {
        "consent": {
            "id": consent.id,
            "status": consent.status.value,
            "status_reason": container.consents.status_reason(consent),
            "grantee": names.get(consent.grantee_id),
            "jobcenter": names.get(consent.jobcenter_id),
            "purposes": consent.purposes,
            "categories": consent.categories,
            "valid_until": consent.valid_until,
            "language": consent.language,
        },
        "accesses": [
            {
                "seq": row.seq,
                "time": row.occurred_at,
                "type": row.event_type,
                "organisation": names.get(row.organisation_id or "", row.organisation_id),
                "purpose": row.purpose,
                "decision": row.decision,
            }
            for row in code_access.events(session, access)
        ],
    }


@router.get("/v1/self-service/{code}/report")
def self_service_report(code: str, container: ContainerDep, session: SessionDep) -> dict[str, Any]:
    """The accesses under the code's consent, each with its inclusion proof, in the
    language of the consent. The person's full access report (GDPR Art. 15, every
    organisation) is the data protection officer's to give."""
    access = code_access.open_code(session, consents=container.consents, code=code)
    report = reports.subject_access_report(
        session,
        audit=container.audit,
        catalogue=container.policy.catalogue,
        texts=container.consent_texts,
        subject_id=access.consent.subject_id,
        language=access.consent.language,
        visible_to=None,
        only_seqs={row.seq for row in code_access.events(session, access)},
    )
    session.commit()
    return report


@router.post("/v1/self-service/{code}/revoke")
def self_service_revoke(
    code: str, request: Request, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    consent = code_access.withdraw(
        session, consents=container.consents, code=code, trace_id=request.state.trace_id
    )
    session.commit()
    return {"consent_id": consent.id, "status": consent.status.value}
