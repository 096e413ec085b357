"""All SQL for subjects, their registrations, and the facts of who has standing with a person."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session, col, select

from gateway.consents.models import Consent, ConsentStatus
from gateway.queries.models import Query, QueryStatus
from gateway.subjects.models import Subject, SubjectRegistration

#: Consents in force: their parties have standing with the person.
IN_FORCE = (ConsentStatus.PENDING, ConsentStatus.ACTIVE, ConsentStatus.PAUSED)
#: Open queries: the answering organisation has standing with the person while one is open.
OPEN = (QueryStatus.RECEIVED, QueryStatus.ROUTED)


def get(session: Session, subject_id: str) -> Subject | None:
    return session.get(Subject, subject_id)


def get_for_update(session: Session, subject_id: str) -> Subject | None:
    return session.exec(select(Subject).where(Subject.id == subject_id).with_for_update()).first()


def find_by_index(session: Session, identity_index: str) -> Subject | None:
    return session.exec(select(Subject).where(Subject.identity_index == identity_index)).first()


def add(session: Session, subject: Subject) -> None:
    session.add(subject)
    session.flush()


def iterate(session: Session, *, batch: int = 500) -> Iterator[Subject]:
    last = ""
    while True:
        rows = session.exec(
            select(Subject).where(col(Subject.id) > last).order_by(col(Subject.id)).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


# -- registrations ----------------------------------------------------------------------


def registration(
    session: Session, *, organisation_id: str, subject_id: str
) -> SubjectRegistration | None:
    return session.get(SubjectRegistration, (organisation_id, subject_id))


def add_registration(session: Session, row: SubjectRegistration) -> None:
    session.add(row)
    session.flush()


def registrars(session: Session, subject_id: str) -> frozenset[str]:
    """The organisations that registered or found the person."""
    return frozenset(
        session.exec(
            select(SubjectRegistration.organisation_id).where(
                SubjectRegistration.subject_id == subject_id
            )
        ).all()
    )


def registered_subject_ids(session: Session, *, organisation_id: str, limit: int) -> list[str]:
    """The persons an organisation registered or found, newest first."""
    return list(
        session.exec(
            select(SubjectRegistration.subject_id)
            .where(SubjectRegistration.organisation_id == organisation_id)
            .order_by(col(SubjectRegistration.registered_at).desc())
            .limit(limit)
        ).all()
    )


def iterate_registrations(session: Session, *, batch: int = 500) -> Iterator[SubjectRegistration]:
    """The registrations that hold a customer number (for re-sealing)."""
    last = ("", "")
    while True:
        rows = session.exec(
            select(SubjectRegistration)
            .where(
                col(SubjectRegistration.customer_number_sealed).is_not(None),
                (col(SubjectRegistration.organisation_id) > last[0])
                | (
                    (col(SubjectRegistration.organisation_id) == last[0])
                    & (col(SubjectRegistration.subject_id) > last[1])
                ),
            )
            .order_by(col(SubjectRegistration.organisation_id), col(SubjectRegistration.subject_id))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = (rows[-1].organisation_id, rows[-1].subject_id)


# -- standing from consents and queries ----------------------------------------------------


def consent_parties(session: Session, subject_id: str) -> frozenset[str]:
    """Grantee and jobcenter of each consent about the person in force."""
    rows = session.exec(
        select(Consent.grantee_id, Consent.jobcenter_id).where(
            Consent.subject_id == subject_id, col(Consent.status).in_(IN_FORCE)
        )
    ).all()
    return frozenset(party for row in rows for party in row)


def answering(session: Session, subject_id: str) -> frozenset[str]:
    """The organisations that answer an open query about the person."""
    rows = session.exec(
        select(Query.answerer_org_id).where(
            Query.subject_id == subject_id, col(Query.status).in_(OPEN)
        )
    ).all()
    return frozenset(row for row in rows if row is not None)
