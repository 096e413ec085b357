"""All SQL for consents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from gateway.consents.models import Consent, ConsentStatus


def get(session: Session, consent_id: str) -> Consent | None:
    return session.get(Consent, consent_id)


def get_for_update(session: Session, consent_id: str) -> Consent | None:
    return session.exec(select(Consent).where(Consent.id == consent_id).with_for_update()).first()


def add(session: Session, consent: Consent) -> None:
    session.add(consent)
    session.flush()


def find_by_confirmation(session: Session, token_hash: str) -> Consent | None:
    return session.exec(select(Consent).where(Consent.confirmation_hash == token_hash)).first()


def find_by_self_service(session: Session, index: str) -> Consent | None:
    return session.exec(select(Consent).where(Consent.self_service_index == index)).first()


def visible_to(
    session: Session,
    *,
    organisation_id: str,
    everything: bool,
    subject_id: str | None,
    statuses: Sequence[ConsentStatus] | None,
    after: str | None,
    limit: int,
) -> list[Consent]:
    query = select(Consent)
    if not everything:
        query = query.where(
            or_(
                col(Consent.grantee_id) == organisation_id,
                col(Consent.jobcenter_id) == organisation_id,
            )
        )
    if subject_id is not None:
        query = query.where(Consent.subject_id == subject_id)
    if statuses:
        query = query.where(col(Consent.status).in_(list(statuses)))
    if after is not None:
        query = query.where(col(Consent.id) > after)
    return list(session.exec(query.order_by(col(Consent.id)).limit(limit)).all())


def for_subject(
    session: Session,
    *,
    subject_id: str,
    grantee_id: str | None = None,
    jobcenter_id: str | None = None,
) -> list[Consent]:
    """The consents about one person with one party, newest versions included."""
    query = select(Consent).where(Consent.subject_id == subject_id)
    if grantee_id is not None:
        query = query.where(Consent.grantee_id == grantee_id)
    if jobcenter_id is not None:
        query = query.where(Consent.jobcenter_id == jobcenter_id)
    return list(session.exec(query).all())


def due_for_expiry(session: Session, *, now: datetime, limit: int = 500) -> list[Consent]:
    return list(
        session.exec(
            select(Consent)
            .where(
                col(Consent.status).in_([ConsentStatus.ACTIVE, ConsentStatus.PENDING]),
                col(Consent.valid_until) <= now,
            )
            .limit(limit)
        ).all()
    )
