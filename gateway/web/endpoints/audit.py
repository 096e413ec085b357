"""Pages of data protection officers: explorer, event and proof, verification, anomalies, export."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from gateway.audit import reports, verify_jobs
from gateway.clock import utcnow
from gateway.database import BIGINT_MAX
from gateway.dependencies import SessionDep
from gateway.errors import NotFound
from gateway.web import audit_views
from gateway.web.dependencies import CheckedForm, CurrentViewer, WebDep
from gateway.web.forms import BERLIN, N_, Form, start_of_day
from gateway.web.pages import WebRoute, redirect, render
from gateway.web.rendering import SECURITY_HEADERS

router = APIRouter(route_class=WebRoute, include_in_schema=False)
FILTER_FIELDS = (*audit_views.FILTERS, "since", "until")


@router.get("/web/audit")
def explorer(request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep) -> Response:
    scoped_to = audit_views.scope(session, web.container.guard, viewer.principal)
    form = Form(values={key: str(value) for key, value in request.query_params.items()})
    flt = audit_views.parse_filter(form, scoped_to=scoped_to)
    rows, next_cursor = audit_views.find(session, flt if form.ok else None)
    names = audit_views.organisation_names(session)
    filters = {k: form.text(k) for k in FILTER_FIELDS if form.text(k)}
    return render(
        request,
        web,
        "audit/explorer.html",
        viewer=viewer,
        section="audit",
        status=200 if form.ok else 400,
        form=form,
        events=[audit_views.event_view(row, names) for row in rows],
        next_url=f"/web/audit?{urlencode({**filters, 'cursor': next_cursor})}"
        if next_cursor
        else None,
        export_url=f"/web/audit/export?{urlencode(filters)}",
        whole_trail=scoped_to is None,
        organisation_options=sorted(names.items(), key=lambda item: item[1])
        if scoped_to is None
        else [],
    )


@router.get("/web/audit/events/{seq}")
def event(
    seq: Annotated[int, Path(ge=1, le=BIGINT_MAX)],
    request: Request,
    web: WebDep,
    viewer: CurrentViewer,
    session: SessionDep,
) -> Response:
    row = audit_views.visible_event(session, web.container.guard, viewer.principal, seq)
    container = web.container
    return render(
        request,
        web,
        "audit/event.html",
        viewer=viewer,
        section="audit",
        event=audit_views.event_view(row, audit_views.organisation_names(session)),
        document=json.dumps(json.loads(row.event), indent=2, ensure_ascii=False),
        proof=audit_views.proof(session, audit=container.audit, keys=container.keys, row=row),
    )


@router.post("/web/audit/checkpoint")
def sign_checkpoint(
    web: WebDep, viewer: CurrentViewer, session: SessionDep, data: CheckedForm
) -> Response:
    """Sign a tree head over everything so far, so the newest events have a proof now."""
    audit_views.scope(session, web.container.guard, viewer.principal)
    web.container.audit.checkpoint_if_due(session, force=True)
    session.commit()
    seq = str(data.get("seq") or "")
    return redirect(f"/web/audit/events/{seq}" if seq.isdigit() else "/web/audit/verify")


@router.get("/web/audit/verify")
def verify(request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep) -> Response:
    """The latest whole-trail verification (run in the background) and the latest checkpoint."""
    audit_views.scope(session, web.container.guard, viewer.principal)
    try:
        latest = web.container.audit.latest_checkpoint(session)
    except NotFound:
        latest = None
    job = verify_jobs.latest(session)
    return render(
        request,
        web,
        "audit/verify.html",
        viewer=viewer,
        section="verify",
        job=job,
        running=job is not None and job.finished_at is None,
        checkpoint=latest,
        checkpoint_verified=(
            audit_views.checkpoint_verified(latest, web.container.keys) if latest else False
        ),
    )


@router.post("/web/audit/verify")
def start_verification(
    web: WebDep, viewer: CurrentViewer, session: SessionDep, _form: CheckedForm
) -> Response:
    """Queue a verification of the whole trail and return at once; the page shows its result.

    Verifying reads every event (seconds at a million), so it never runs in a request.
    """
    audit_views.scope(session, web.container.guard, viewer.principal)
    verify_jobs.request(session, requested_by=viewer.principal.user_id, now=utcnow())
    session.commit()
    # Also picks up a job queued by a request whose process ended before starting it.
    verify_jobs.start(engine=web.container.engine, keys=web.container.keys)
    return redirect("/web/audit/verify")


@router.get("/web/audit/anomalies")
def anomalies(
    request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep
) -> Response:
    form = Form(values={key: str(value) for key, value in request.query_params.items()})
    today = utcnow().astimezone(BERLIN).date()
    since = form.date("since", required=False) or today - timedelta(days=30)
    until = form.date("until", required=False) or today
    if until < since:
        form.fail("until", N_("The end lies before the start."))
    seen = audit_views.visible_organisations(session, web.container.guard, viewer.principal)
    visible = None if seen is None else sorted(seen)
    findings = []
    if form.ok:
        for organisation in visible if visible is not None else [None]:
            findings.extend(
                reports.anomalies(
                    session,
                    organisation_id=organisation,
                    since=start_of_day(since),
                    until=start_of_day(until + timedelta(days=1)),
                )
            )
    return render(
        request,
        web,
        "audit/anomalies.html",
        viewer=viewer,
        section="anomalies",
        status=200 if form.ok else 400,
        form=form,
        since=since,
        until=until,
        findings=findings,
        names=audit_views.organisation_names(session),
        minimums=reports.MINIMUMS,
        factor=reports.FACTOR,
    )


@router.get("/web/audit/export")
def export(request: Request, web: WebDep, viewer: CurrentViewer, session: SessionDep) -> Response:
    scoped_to = audit_views.scope(session, web.container.guard, viewer.principal)
    form = Form(values={key: str(value) for key, value in request.query_params.items()})
    form.values.pop("cursor", None)
    flt = audit_views.parse_filter(form, scoped_to=scoped_to)
    container = web.container
    data = audit_views.export_zip(
        session, audit=container.audit, keys=container.keys, flt=flt if form.ok else None
    )
    session.commit()  # the checkpoint signed for the proofs
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return Response(
        data,
        media_type="application/zip",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="audit-export-{stamp}.zip"',
        },
    )
