"""The SQL of webhook subscriptions and of claiming outbox messages for delivery."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select, update

from gateway.organisations.models import Organisation
from gateway.webhooks.models import OutboxMessage, OutboxStatus, WebhookSubscription


def count_enabled(session: Session, *, organisation_id: str, lock: bool = False) -> int:
    """Enabled subscriptions of an organisation.

    ``lock`` first locks the organisation's row on PostgreSQL, so two requests
    cannot both count below the cap and both add (SQLite's write transactions
    are serial already).
    """
    if lock and session.get_bind().dialect.name == "postgresql":
        session.exec(
            select(Organisation.id).where(Organisation.id == organisation_id).with_for_update()
        ).first()
    return int(
        session.exec(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(
                WebhookSubscription.organisation_id == organisation_id,
                col(WebhookSubscription.enabled).is_(True),
            )
        ).one()
    )


def due_subscriptions(
    session: Session, *, cutoff: datetime, exclude: Collection[str], limit: int
) -> list[tuple[str, str]]:
    """(subscription, organisation) with messages due by ``cutoff``, longest waiting first."""
    due = func.min(OutboxMessage.next_attempt_at)
    statement = (
        select(OutboxMessage.subscription_id, WebhookSubscription.organisation_id)
        .join(WebhookSubscription, col(WebhookSubscription.id) == OutboxMessage.subscription_id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= cutoff,
        )
        .group_by(col(OutboxMessage.subscription_id), col(WebhookSubscription.organisation_id))
        .order_by(due)
        .limit(limit)
    )
    if exclude:
        statement = statement.where(col(OutboxMessage.subscription_id).not_in(sorted(exclude)))
    return [(subscription, organisation) for subscription, organisation in session.exec(statement)]


def claim_next(
    session: Session, *, subscription_id: str, cutoff: datetime, lease_until: datetime
) -> str | None:
    """Lease the subscription's oldest due message; None when there is none or another took it.

    The lease is a conditional update, so two workers (threads or processes, on
    either database) never both claim a message: the second finds it no longer due.
    """
    candidate = session.exec(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.subscription_id == subscription_id,
            OutboxMessage.status == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= cutoff,
        )
        .order_by(
            col(OutboxMessage.next_attempt_at), col(OutboxMessage.created_at), col(OutboxMessage.id)
        )
        .limit(1)
    ).first()
    if candidate is None:
        return None
    claimed = session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == candidate,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= cutoff,
        )
        .values(next_attempt_at=lease_until, attempts=col(OutboxMessage.attempts) + 1)
        .returning(col(OutboxMessage.id))
    ).first()
    return None if claimed is None else str(claimed[0])
