"""Operational state read from the database at scrape time (counts only, no identifiers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.audit import repository as audit
from gateway.clock import as_utc, utcnow
from gateway.queries.models import Query, QueryStatus
from gateway.webhooks.models import OutboxMessage, OutboxStatus


def operational_gauges(engine: Engine) -> dict[str, float]:
    now = utcnow()
    with Session(engine) as session:
        outbox = session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        ).one()
        late = session.exec(
            select(func.count())
            .select_from(Query)
            .where(
                col(Query.status).in_([QueryStatus.RECEIVED, QueryStatus.ROUTED]),
                col(Query.deadline) < now,
            )
        ).one()
        end = audit.chain_end(session)
        checkpoint = audit.latest_checkpoint(session)
    values: dict[str, float] = {
        "gateway_webhook_outbox_depth": float(outbox),
        "gateway_queries_past_deadline": float(late),
        "gateway_audit_unsigned_events": float((end.head.seq if end.head else 0) - end.signed),
    }
    if checkpoint is not None:
        signed = datetime.fromisoformat(checkpoint.timestamp.replace("Z", "+00:00"))
        values["gateway_audit_checkpoint_age_seconds"] = (now - as_utc(signed)).total_seconds()
    return values
