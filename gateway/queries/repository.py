"""All SQL for queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, or_
from sqlmodel import Session, col, select

from gateway.queries.models import Query, QueryStatus

OPEN = [QueryStatus.RECEIVED, QueryStatus.ROUTED]


def get(session: Session, query_id: str) -> Query | None:
    return session.get(Query, query_id)


def get_for_update(session: Session, query_id: str) -> Query | None:
    # populate_existing: an object already loaded takes the locked row's values.
    return session.exec(
        select(Query)
        .where(Query.id == query_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


# The statements of every ask are built once; each call only binds its values.
_BY_IDEMPOTENCY_KEY = select(Query).where(
    Query.asker_client_id == bindparam("client_id"), Query.idempotency_key == bindparam("key")
)
_COUNT_ASKED = (
    select(func.count())
    .select_from(Query)
    .where(
        Query.asker_user_id == bindparam("user_id"),
        Query.subject_id == bindparam("subject_id"),
        col(Query.created_at) >= bindparam("since"),
        Query.status != QueryStatus.DENIED,
    )
)


def by_idempotency_key(session: Session, *, client_id: str, key: str) -> Query | None:
    return session.exec(_BY_IDEMPOTENCY_KEY, params={"client_id": client_id, "key": key}).first()


def add(session: Session, query: Query) -> None:
    session.add(query)
    session.flush()


def count_asked(session: Session, *, user_id: str, subject_id: str, since: datetime) -> int:
    params = {"user_id": user_id, "subject_id": subject_id, "since": since}
    return int(session.exec(_COUNT_ASKED, params=params).one())


def visible(
    session: Session,
    *,
    organisation_id: str,
    statuses: Sequence[QueryStatus] | None,
    answering_only: bool,
    after: str | None,
    limit: int,
) -> list[Query]:
    query = select(Query)
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
        query = query.where(col(Query.status).in_(list(statuses)))
    if after is not None:
        query = query.where(col(Query.id) > after)
    return list(session.exec(query.order_by(col(Query.id)).limit(limit)).all())


def answered_under_consents(session: Session, consent_ids: Sequence[str]) -> list[Query]:
    """Queries under the consents whose answer the gateway still holds or has delivered."""
    return list(
        session.exec(
            select(Query)
            .where(
                col(Query.consent_id).in_(consent_ids),
                or_(col(Query.answer_sealed).is_not(None), col(Query.delivered_at).is_not(None)),
            )
            .order_by(col(Query.id))
        ).all()
    )


def open_under_consent(session: Session, consent_id: str) -> list[Query]:
    return list(
        session.exec(
            select(Query).where(
                Query.consent_id == consent_id,
                or_(
                    col(Query.status).in_(OPEN),
                    (col(Query.status) == QueryStatus.ANSWERED) & col(Query.delivered_at).is_(None),
                ),
            )
        ).all()
    )


def due_for_delivery(session: Session, *, now: datetime, limit: int = 50) -> list[str]:
    return list(
        session.exec(
            select(Query.id)
            .where(Query.status == QueryStatus.RECEIVED, col(Query.next_attempt_at) <= now)
            .limit(limit)
        ).all()
    )


def past_deadline(session: Session, *, now: datetime, limit: int = 200) -> list[Query]:
    return list(
        session.exec(
            select(Query)
            .where(col(Query.status).in_(OPEN), col(Query.deadline) <= now)
            .limit(limit)
        ).all()
    )


def past_retention(session: Session, *, now: datetime, limit: int = 200) -> list[Query]:
    return list(
        session.exec(
            select(Query)
            .where(col(Query.answer_sealed).is_not(None), col(Query.retention_until) <= now)
            .limit(limit)
        ).all()
    )
