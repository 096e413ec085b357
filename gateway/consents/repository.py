"""All SQL for consents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_
from sqlmodel import Session, col, select

from gateway.clock import as_utc
from gateway.consents.models import (
    Consent,
    ConsentStatus,
    VerificationCode,
    VerificationLockout,
)
from gateway.queries.models import Query, QueryStatus


def get(session: Session, consent_id: str) -> Consent | None:
    return session.get(Consent, consent_id)


def get_for_update(session: Session, consent_id: str) -> Consent | None:
    # populate_existing: an object already loaded takes the locked row's values.
    return session.exec(
        select(Consent)
        .where(Consent.id == consent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def versions(session: Session, consent: Consent) -> list[str]:
    """The ids of ``consent`` and of every earlier version it amended, newest first."""
    ids = [consent.id]
    previous = consent.previous_id
    while previous is not None and previous not in ids:
        earlier = get(session, previous)
        if earlier is None:
            break
        ids.append(earlier.id)
        previous = earlier.previous_id
    return ids


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


# Built once (every ask runs one): about a person, and with one party if named.
_FOR_SUBJECT = select(Consent).where(Consent.subject_id == bindparam("subject_id"))
_FOR_SUBJECT_AND_GRANTEE = _FOR_SUBJECT.where(Consent.grantee_id == bindparam("party_id"))
_FOR_SUBJECT_AND_JOBCENTER = _FOR_SUBJECT.where(Consent.jobcenter_id == bindparam("party_id"))


def for_subject(
    session: Session,
    *,
    subject_id: str,
    grantee_id: str | None = None,
    jobcenter_id: str | None = None,
) -> list[Consent]:
    """The consents about one person, with the grantee or the jobcenter named (at most
    one of the two), newest versions included."""
    if grantee_id is not None and jobcenter_id is not None:
        raise ValueError("name the grantee or the jobcenter, not both")
    params = {"subject_id": subject_id}
    statement = _FOR_SUBJECT
    if grantee_id is not None:
        statement, params["party_id"] = _FOR_SUBJECT_AND_GRANTEE, grantee_id
    elif jobcenter_id is not None:
        statement, params["party_id"] = _FOR_SUBJECT_AND_JOBCENTER, jobcenter_id
    return list(session.exec(statement, params=params).all())


def due_for_expiry(session: Session, *, now: datetime, limit: int = 500) -> list[Consent]:
    return list(
        session.exec(
            select(Consent)
            .where(
                col(Consent.status).in_(
                    [ConsentStatus.ACTIVE, ConsentStatus.PENDING, ConsentStatus.PAUSED]
                ),
                col(Consent.valid_until) <= now,
            )
            .limit(limit)
        ).all()
    )


def use_by_question(
    session: Session, consent_ids: Sequence[str]
) -> dict[str, dict[str, tuple[int, datetime]]]:
    """Per consent and question type: how many queries ran under it and when the last one was
    asked. A denied query used nothing, so it does not count; every other one does, whatever
    became of it. Derived from the queries themselves, so it cannot drift from them."""
    if not consent_ids:
        return {}
    rows = session.exec(
        select(Query.consent_id, Query.question, func.count(), func.max(Query.created_at))
        .where(col(Query.consent_id).in_(list(consent_ids)), Query.status != QueryStatus.DENIED)
        .group_by(col(Query.consent_id), col(Query.question))
    ).all()
    use: dict[str, dict[str, tuple[int, datetime]]] = {}
    for consent_id, question, count, last in rows:
        assert consent_id is not None
        use.setdefault(consent_id, {})[question] = (int(count), as_utc(last))
    return use


# -- one-time verification codes -----------------------------------------------------


def add_code(session: Session, code: VerificationCode) -> None:
    session.add(code)
    session.flush()


def code_for_update(session: Session, code_hash: str) -> VerificationCode | None:
    return session.exec(
        select(VerificationCode).where(VerificationCode.code_hash == code_hash).with_for_update()
    ).first()


def codes_issued_since(session: Session, *, consent_id: str, since: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(VerificationCode)
            .where(
                VerificationCode.consent_id == consent_id,
                col(VerificationCode.issued_at) >= since,
            )
        ).one()
    )


def lockout_for_update(session: Session, user_id: str) -> VerificationLockout | None:
    return session.exec(
        select(VerificationLockout).where(VerificationLockout.user_id == user_id).with_for_update()
    ).first()


def save_lockout(session: Session, lockout: VerificationLockout) -> None:
    session.add(lockout)
    session.flush()
