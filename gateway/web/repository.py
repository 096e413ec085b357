"""All SQL of the web pages: sessions, sign-in counters, known persons, page listings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from gateway.consents.models import Consent
from gateway.queries.models import Query
from gateway.web.models import KnownSubject, SigninCounter, WebSession

# -- sessions ------------------------------------------------------------------------


def add_session(session: Session, row: WebSession) -> None:
    session.add(row)
    session.flush()


def get_session(session: Session, id_hash: str) -> WebSession | None:
    return session.get(WebSession, id_hash)


def delete_session(session: Session, id_hash: str) -> None:
    session.exec(delete(WebSession).where(col(WebSession.id_hash) == id_hash))


def delete_sessions_of(session: Session, user_id: str) -> None:
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))


def purge_sessions(session: Session, *, idle_before: datetime, now: datetime) -> None:
    session.exec(
        delete(WebSession).where(
            or_(col(WebSession.expires_at) <= now, col(WebSession.last_seen_at) < idle_before)
        )
    )


# -- sign-in counters ------------------------------------------------------------------


def counter_for_update(session: Session, user_id: str) -> SigninCounter | None:
    return session.exec(
        select(SigninCounter).where(SigninCounter.user_id == user_id).with_for_update()
    ).first()


def save_counter(session: Session, counter: SigninCounter) -> None:
    session.add(counter)
    session.flush()


# -- persons an organisation knows -----------------------------------------------------


def remember_subject(session: Session, *, organisation_id: str, subject_id: str) -> None:
    if session.get(KnownSubject, (organisation_id, subject_id)) is None:
        session.add(KnownSubject(organisation_id=organisation_id, subject_id=subject_id))
        session.flush()


def knows_subject(session: Session, *, organisation_id: str, subject_id: str) -> bool:
    return session.get(KnownSubject, (organisation_id, subject_id)) is not None


def known_subject_ids(session: Session, *, organisation_id: str, limit: int) -> list[str]:
    return list(
        session.exec(
            select(KnownSubject.subject_id)
            .where(KnownSubject.organisation_id == organisation_id)
            .order_by(col(KnownSubject.known_since).desc())
            .limit(limit)
        ).all()
    )


def has_consent_with(session: Session, *, organisation_id: str, subject_id: str) -> bool:
    return (
        session.exec(
            select(Consent.id)
            .where(
                Consent.subject_id == subject_id,
                or_(
                    col(Consent.grantee_id) == organisation_id,
                    col(Consent.jobcenter_id) == organisation_id,
                ),
            )
            .limit(1)
        ).first()
        is not None
    )


# -- candidates for listings: the services decide on each row --------------------------


def consent_ids_about(
    session: Session, *, organisation_id: str, subject_id: str, limit: int
) -> list[str]:
    return list(
        session.exec(
            select(Consent.id)
            .where(
                Consent.subject_id == subject_id,
                or_(
                    col(Consent.grantee_id) == organisation_id,
                    col(Consent.jobcenter_id) == organisation_id,
                ),
            )
            .order_by(col(Consent.recorded_at).desc())
            .limit(limit)
        ).all()
    )


def query_ids_about(
    session: Session, *, organisation_id: str, subject_id: str, limit: int
) -> list[str]:
    return list(
        session.exec(
            select(Query.id)
            .where(
                Query.subject_id == subject_id,
                or_(
                    col(Query.asker_org_id) == organisation_id,
                    col(Query.answerer_org_id) == organisation_id,
                ),
            )
            .order_by(col(Query.created_at).desc())
            .limit(limit)
        ).all()
    )


def query_ids_of(
    session: Session,
    *,
    organisation_id: str,
    statuses: list[str] | None,
    answering_only: bool,
    limit: int,
) -> list[str]:
    """Newest first, for the pages (the API pages by id instead)."""
    query = select(Query.id)
    if answering_only:
        query = query.where(Query.answerer_org_id == organisation_id)
    else:
        query = query.where(
            or_(
                col(Query.asker_org_id) == organisation_id,
                col(Query.answerer_org_id) == organisation_id,
            )
        )
    if statuses:
        query = query.where(col(Query.status).in_(statuses))
    return list(session.exec(query.order_by(col(Query.created_at).desc()).limit(limit)).all())


def recent_consent_ids(session: Session, *, organisation_id: str, limit: int) -> list[str]:
    return list(
        session.exec(
            select(Consent.id)
            .where(
                or_(
                    col(Consent.grantee_id) == organisation_id,
                    col(Consent.jobcenter_id) == organisation_id,
                )
            )
            .order_by(col(Consent.recorded_at).desc())
            .limit(limit)
        ).all()
    )
