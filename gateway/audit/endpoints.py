"""HTTP routes of the audit trail: events for data protection officers, checkpoints, proofs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gateway.audit import reports, repository
from gateway.audit.models import AuditEventRow
from gateway.audit.repository import EventFilter
from gateway.auth.principal import Principal
from gateway.clock import utcnow
from gateway.database import parse_bigint
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.errors import BadRequest, NotFound
from gateway.policy.models import Action

router = APIRouter(prefix="/v1/audit", tags=["audit"])
# Larger numbers overflow SQLite INTEGER and PostgreSQL BIGINT (a 500 instead of a 422).
MAX_TREE_SIZE = 2**63 - 1


def _visible_organisations(
    session: SessionDep, container: ContainerDep, principal: Principal
) -> frozenset[str] | None:
    """Whose events ``principal`` reads (the rules ``audit.*``): None for the whole trail,
    else the own organisation and, for a district office, its municipalities."""
    return container.guard.records_scope(session, principal, Action.READ_AUDIT)


def _item(row: AuditEventRow) -> dict[str, Any]:
    return {"seq": row.seq, "event": json.loads(row.event), "leaf_hash": row.leaf_hash}


def _cursor(value: str | None) -> int:
    if value is None:
        return 0
    # A cursor is a seq: beyond BIGINT it would fail in the database, as a 500.
    seq = parse_bigint(value)
    if seq is None:
        raise BadRequest("The cursor is not valid.", slug="invalid-cursor")
    return seq


@router.get("/events")
def list_events(
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    subject: str | None = None,
    organisation: str | None = None,
    user: str | None = None,
    consent: str | None = None,
    purpose: str | None = None,
    type: Annotated[str | None, Query(alias="type")] = None,
    decision: Annotated[str | None, Query(pattern="^(permit|deny)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    scope = _visible_organisations(session, container, principal)
    visible_to = None if scope is None else principal.organisation_id
    container.audit.integrate(session)
    rows = repository.find_events(
        session,
        EventFilter(
            visible_to=visible_to,
            organisation_id=organisation,
            user_id=user,
            subject_id=subject,
            consent_id=consent,
            purpose=purpose,
            event_type=type,
            decision=decision,
            since=since,
            until=until,
            after_seq=_cursor(cursor),
        ),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [_item(row) for row in rows], "next": str(rows[-1].seq) if more else None}


@router.get("/subjects/{subject_id}/report")
def subject_access_report(
    subject_id: str,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    language: str = "de",
) -> dict[str, Any]:
    """GDPR Art. 15: every recorded access to one person's data, each with its inclusion proof."""
    visible = _visible_organisations(session, container, principal)
    report = reports.subject_access_report(
        session,
        audit=container.audit,
        catalogue=container.policy.catalogue,
        texts=container.consent_texts,
        subject_id=subject_id,
        language=language,
        visible_to=None if visible is None else set(visible),
    )
    session.commit()  # the checkpoint signed for the proofs
    if not report["entries"]:
        raise NotFound("No events about this person are visible to you.", slug="subject-not-found")
    return report


@router.get("/anomalies")
def anomaly_report(
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Users whose volume, denials, out-of-hours use or spread over persons stands out."""
    end = until or utcnow()
    start = since or end - timedelta(days=30)
    visible = _visible_organisations(session, container, principal)
    container.audit.integrate(session)
    findings = [
        finding
        for organisation in (sorted(visible) if visible is not None else [None])
        for finding in reports.anomalies(
            session, organisation_id=organisation, since=start, until=end
        )
    ]
    return {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "rule": {"factor_over_colleagues_median": reports.FACTOR, "minimums": reports.MINIMUMS},
        "findings": [finding.as_dict() for finding in findings],
    }


@router.get("/checkpoints/latest")
def latest_checkpoint(container: ContainerDep, session: SessionDep) -> dict[str, Any]:
    """The latest signed tree head; public, like a transparency log's."""
    return container.audit.latest_checkpoint(session).public()


@router.get("/proof/{seq}")
def inclusion_proof(
    seq: Annotated[int, Path(ge=1, le=MAX_TREE_SIZE)],
    container: ContainerDep,
    session: SessionDep,
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_TREE_SIZE)] = None,
) -> dict[str, Any]:
    """RFC 9162 inclusion proof of event ``seq`` in the latest (or the named) checkpoint."""
    return container.audit.inclusion_proof(session, seq=seq, tree_size=tree_size)


@router.get("/consistency")
def consistency_proof(
    container: ContainerDep,
    session: SessionDep,
    first: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
    second: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
) -> dict[str, Any]:
    """RFC 9162 consistency proof between two checkpoints, named by their tree sizes."""
    return container.audit.consistency_proof(session, first=first, second=second)
