"""All SQL of the cooperation key figures.

The database does the counting down to one row per organisation, month and
person (``GROUP BY``), so what reaches Python is small and already holds the
distinct ``subject_id`` that suppression needs. Months are bucketed with a
``CASE`` over bound month boundaries instead of ``EXTRACT``/``strftime``: the
same SQL then runs on SQLite and PostgreSQL and is independent of the
database session's time zone.

A figure belongs to every organisation that is a party to it: a consent to
its grantee (municipality or district office) and its jobcenter, a query to
the organisation that asked and the one that answers. Each function therefore
runs its select once per party column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from gateway.clock import as_utc
from gateway.consents.models import Consent, ConsentStatus
from gateway.organisations.models import Organisation, OrganisationKind
from gateway.queries.models import Query, QueryStatus


@dataclass(frozen=True)
class PersonFact:
    """One person counted in one organisation's month."""

    organisation_id: str
    month: int
    subject_id: str


@dataclass(frozen=True)
class AskedFact:
    organisation_id: str
    month: int
    purpose: str
    question: str
    subject_id: str
    queries: int


@dataclass(frozen=True)
class DeniedFact:
    organisation_id: str
    month: int
    subject_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class AnsweredFact:
    organisation_id: str
    month: int
    answerer_id: str
    subject_id: str
    within_deadline: bool
    hours: float


def _month(column: Any, bounds: Sequence[datetime]) -> ColumnElement[int]:
    """The month (1-based) whose ``[bounds[i], bounds[i+1])`` holds ``column``.

    Callers restrict ``column`` to ``[bounds[0], bounds[-1])``, so the last
    month needs no upper test.
    """
    whens = [(column < bound, index) for index, bound in enumerate(bounds[1:-1], start=1)]
    return case(*whens, else_=len(bounds) - 1)


def _within(column: Any, bounds: Sequence[datetime]) -> list[ColumnElement[bool]]:
    return [column >= bounds[0], column < bounds[-1]]


def consents_activated(session: Session, *, bounds: Sequence[datetime]) -> list[PersonFact]:
    """Persons whose consent became active in each month ("given")."""
    facts: list[PersonFact] = []
    for party in (Consent.grantee_id, Consent.jobcenter_id):
        month = _month(col(Consent.activated_at), bounds)
        rows = session.exec(
            select(party, month, Consent.subject_id)
            .where(*_within(col(Consent.activated_at), bounds))
            .distinct()
        ).all()
        facts.extend(PersonFact(org, int(m), subject) for org, m, subject in rows)
    return facts


def consents_ended(
    session: Session, *, bounds: Sequence[datetime], statuses: Sequence[ConsentStatus]
) -> list[PersonFact]:
    """Persons whose active consent ended with one of ``statuses`` in each month.

    A consent that never became active (an unconfirmed ``own_phone`` consent)
    was never given, so its end is not counted either.
    """
    facts: list[PersonFact] = []
    for party in (Consent.grantee_id, Consent.jobcenter_id):
        month = _month(col(Consent.ended_at), bounds)
        rows = session.exec(
            select(party, month, Consent.subject_id)
            .where(
                col(Consent.status).in_(list(statuses)),
                col(Consent.activated_at).is_not(None),
                *_within(col(Consent.ended_at), bounds),
            )
            .distinct()
        ).all()
        facts.extend(PersonFact(org, int(m), subject) for org, m, subject in rows)
    return facts


def consents_active_at(session: Session, *, moment: datetime, month: int) -> list[PersonFact]:
    """Persons with a consent in force at ``moment``, reported as ``month``.

    In force: activated before the moment, not ended by then (revocation,
    expiry, or amendment, whose successor is then in force instead) and still
    within its validity, whether or not the expiry tick has run yet.
    """
    facts: list[PersonFact] = []
    for party in (Consent.grantee_id, Consent.jobcenter_id):
        rows = session.exec(
            select(party, Consent.subject_id)
            .where(
                col(Consent.activated_at) < moment,
                (col(Consent.ended_at).is_(None)) | (col(Consent.ended_at) >= moment),
                col(Consent.valid_until) >= moment,
            )
            .distinct()
        ).all()
        facts.extend(PersonFact(org, month, subject) for org, subject in rows)
    return facts


def queries_asked(session: Session, *, bounds: Sequence[datetime]) -> list[AskedFact]:
    """Queries asked in each month, denied ones included, per purpose, question and person.

    SQLModel's ``select``/``exec`` are typed for at most four columns; wider
    selects use SQLAlchemy's directly.
    """
    facts: list[AskedFact] = []
    for party in (Query.asker_org_id, Query.answerer_org_id):
        month = _month(col(Query.created_at), bounds)
        rows = session.execute(
            select_columns(
                col(party),
                month,
                col(Query.purpose),
                col(Query.question),
                col(Query.subject_id),
                func.count(),
            )
            .where(col(party).is_not(None), *_within(col(Query.created_at), bounds))
            .group_by(party, month, Query.purpose, Query.question, Query.subject_id)
        ).all()
        facts.extend(
            AskedFact(org, int(m), purpose, question, subject, int(n))
            for org, m, purpose, question, subject, n in rows
            if org is not None
        )
    return facts


def queries_denied(session: Session, *, bounds: Sequence[datetime]) -> list[DeniedFact]:
    """Denied queries with their reasons; only the asker is a party (nothing was routed).

    The reasons are a JSON list; SQLite and PostgreSQL unnest JSON differently,
    so the list is read as it is and counted in Python.
    """
    month = _month(col(Query.created_at), bounds)
    rows = session.exec(
        select(Query.asker_org_id, month, Query.subject_id, Query.reasons).where(
            Query.status == QueryStatus.DENIED, *_within(col(Query.created_at), bounds)
        )
    ).all()
    return [
        DeniedFact(org, int(m), subject, tuple(str(reason) for reason in reasons or ()))
        for org, m, subject, reasons in rows
    ]


def queries_answered(session: Session, *, bounds: Sequence[datetime]) -> list[AnsweredFact]:
    """Answers given in each month, with whether they met the deadline and how long they took.

    The deadline test is SQL; the duration is computed in Python because
    timestamp arithmetic differs between SQLite (text) and PostgreSQL.
    """
    facts: list[AnsweredFact] = []
    on_time = case((col(Query.answered_at) <= col(Query.deadline), 1), else_=0)
    for party in (Query.asker_org_id, Query.answerer_org_id):
        month = _month(col(Query.answered_at), bounds)
        rows = session.execute(
            select_columns(
                col(party),
                month,
                col(Query.answerer_org_id),
                col(Query.subject_id),
                on_time,
                col(Query.created_at),
                col(Query.answered_at),
            ).where(
                col(party).is_not(None),
                col(Query.answerer_org_id).is_not(None),
                *_within(col(Query.answered_at), bounds),
            )
        ).all()
        for org, m, answerer, subject, within, created, answered in rows:
            if org is None or answerer is None or answered is None:
                continue
            hours = (as_utc(answered) - as_utc(created)).total_seconds() / 3600
            facts.append(AnsweredFact(org, int(m), answerer, subject, bool(within), hours))
    return facts


def organisations_with_figures(session: Session) -> list[Organisation]:
    """Every organisation that can be a party: all but the operator."""
    return list(
        session.exec(
            select(Organisation)
            .where(Organisation.kind != OrganisationKind.OPERATOR)
            .order_by(col(Organisation.name), col(Organisation.id))
        ).all()
    )


def partnerships(session: Session) -> set[tuple[str, str]]:
    """Pairs of organisations that share a consent or a query (either order as stored)."""
    pairs: set[tuple[str, str]] = set()
    for grantee, jobcenter in session.exec(
        select(Consent.grantee_id, Consent.jobcenter_id).distinct()
    ).all():
        pairs.add((grantee, jobcenter))
    for asker, answerer in session.exec(
        select(Query.asker_org_id, Query.answerer_org_id)
        .where(col(Query.answerer_org_id).is_not(None))
        .distinct()
    ).all():
        if answerer is not None:
            pairs.add((asker, answerer))
    return pairs
