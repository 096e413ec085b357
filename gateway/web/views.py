"""Rows and summaries the pages show: codes turned into words, ids into names, UTC into days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from gateway.clock import as_utc, utcnow
from gateway.consents.models import Consent
from gateway.consents.service import last_day
from gateway.organisations import repository as organisations
from gateway.queries.models import Query
from gateway.web.labels import category_label, purpose_label, question_label

if TYPE_CHECKING:
    from gateway.web.composition import Web


class Names:
    """Organisation names by id, read once per page."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._names: dict[str, str] = {}

    def __call__(self, organisation_id: str | None) -> str:
        if not organisation_id:
            return ""
        if organisation_id not in self._names:
            found = organisations.get_organisation(self._session, organisation_id)
            self._names[organisation_id] = found.name if found else organisation_id
        return self._names[organisation_id]


@dataclass(frozen=True)
class ConsentRow:
    id: str
    version: int
    status: str
    subject_id: str
    grantee: str
    jobcenter: str
    purposes: list[str]
    categories: list[str]
    directions: list[str]
    valid_until: date
    recorded_at: datetime
    ended_at: datetime | None
    evidence: str
    language: str
    text_sha256: str
    attachment_sha256: str | None


def consent_row(web: Web, names: Names, consent: Consent, language: str) -> ConsentRow:
    catalogue = web.container.policy.catalogue
    return ConsentRow(
        id=consent.id,
        version=consent.version,
        status=consent.status.value,
        subject_id=consent.subject_id,
        grantee=names(consent.grantee_id),
        jobcenter=names(consent.jobcenter_id),
        purposes=[purpose_label(catalogue, p, language) for p in consent.purposes],
        categories=[category_label(catalogue, c, language) for c in consent.categories],
        directions=list(consent.directions),
        valid_until=last_day(consent.valid_until),
        recorded_at=as_utc(consent.recorded_at),
        ended_at=as_utc(consent.ended_at) if consent.ended_at else None,
        evidence=consent.evidence_channel.value,
        language=consent.language,
        text_sha256=consent.text_sha256,
        attachment_sha256=consent.attachment_sha256,
    )


def consent_rows(
    web: Web, session: Session, consents: list[Consent], language: str
) -> list[ConsentRow]:
    names = Names(session)
    return [consent_row(web, names, consent, language) for consent in consents]


@dataclass(frozen=True)
class QueryRow:
    id: str
    status: str
    question: str
    purpose: str
    subject_id: str
    consent_id: str | None
    asker: str
    answerer: str
    created_at: datetime
    deadline: datetime
    answered_at: datetime | None
    reasons: list[str]
    overdue: bool
    statute: str | None  # the paragraph of a question asked without consent


def query_row(web: Web, names: Names, query: Query, language: str) -> QueryRow:
    catalogue = web.container.policy.catalogue
    return QueryRow(
        id=query.id,
        status=query.status.value,
        question=question_label(catalogue, query.question, language),
        purpose=purpose_label(catalogue, query.purpose, language),
        subject_id=query.subject_id,
        consent_id=query.consent_id,
        asker=names(query.asker_org_id),
        answerer=names(query.answerer_org_id),
        created_at=as_utc(query.created_at),
        deadline=as_utc(query.deadline),
        answered_at=as_utc(query.answered_at) if query.answered_at else None,
        reasons=list(query.reasons),
        overdue=query.status.open and as_utc(query.deadline) < utcnow(),
        statute=web.container.queries.legal_basis(query).statute,
    )


def query_rows(web: Web, session: Session, queries: list[Query], language: str) -> list[QueryRow]:
    names = Names(session)
    return [query_row(web, names, query, language) for query in queries]
