"""All SQL of the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gateway.audit.models import AuditCheckpointRow, AuditEventRow

# Any constant works; it names the one lock that serialises appends on PostgreSQL.
_CHAIN_LOCK_KEY = 0x61756469  # "audi"


def lock_chain(session: Session) -> None:
    """Serialise appenders until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock, so several gateway
    processes append one after another and the chain never forks. SQLite: the
    connection already began with ``BEGIN IMMEDIATE`` and holds the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK_KEY)
        )


@dataclass(frozen=True)
class ChainHead:
    seq: int
    leaf_hash: str


def head(session: Session) -> ChainHead | None:
    row = session.exec(
        select(AuditEventRow.seq, AuditEventRow.leaf_hash)
        .order_by(col(AuditEventRow.seq).desc())
        .limit(1)
    ).first()
    return ChainHead(seq=row[0], leaf_hash=row[1]) if row else None


def occurred_at(session: Session, seq: int) -> datetime | None:
    return session.exec(select(AuditEventRow.occurred_at).where(AuditEventRow.seq == seq)).first()


def add_event(session: Session, row: AuditEventRow) -> None:
    session.add(row)
    session.flush()


def latest_checkpoint(session: Session) -> AuditCheckpointRow | None:
    return session.exec(
        select(AuditCheckpointRow).order_by(col(AuditCheckpointRow.tree_size).desc()).limit(1)
    ).first()


def checkpoint_at(session: Session, tree_size: int) -> AuditCheckpointRow | None:
    return session.get(AuditCheckpointRow, tree_size)


def add_checkpoint(session: Session, row: AuditCheckpointRow) -> None:
    session.add(row)
    session.flush()


def leaf_hashes(session: Session, *, after: int, upto: int) -> list[str]:
    """Leaf hashes of events ``after < seq <= upto`` in order."""
    return list(
        session.exec(
            select(AuditEventRow.leaf_hash)
            .where(col(AuditEventRow.seq) > after, col(AuditEventRow.seq) <= upto)
            .order_by(col(AuditEventRow.seq))
        ).all()
    )


def event_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AuditEventRow)).one())


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An audit row as stored, without ORM overhead (verification reads millions)."""

    seq: int
    event: str
    leaf_hash: str
    event_type: str
    organisation_id: str | None
    user_id: str | None
    client_id: str | None
    subject_id: str | None
    consent_id: str | None
    purpose: str | None
    decision: str | None


_STORED_COLUMNS = [col(getattr(AuditEventRow, name)) for name in StoredEvent.__slots__]


def stream_events(session: Session, *, batch: int = 5000) -> Iterator[StoredEvent]:
    """Every event in ``seq`` order, fetched in batches so memory stays flat."""
    last = 0
    while True:
        rows = session.execute(
            sa_select(*_STORED_COLUMNS)
            .where(col(AuditEventRow.seq) > last)
            .order_by(col(AuditEventRow.seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield StoredEvent(*row)
        last = rows[-1][0]


def all_checkpoints(session: Session) -> list[AuditCheckpointRow]:
    return list(
        session.exec(select(AuditCheckpointRow).order_by(col(AuditCheckpointRow.tree_size))).all()
    )


@dataclass(frozen=True)
class EventFilter:
    organisation_id: str | None = None
    user_id: str | None = None
    subject_id: str | None = None
    consent_id: str | None = None
    purpose: str | None = None
    event_type: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    seq_from: int | None = None
    seq_to: int | None = None


def find_events(session: Session, flt: EventFilter, *, limit: int) -> list[AuditEventRow]:
    query = select(AuditEventRow).where(col(AuditEventRow.seq) > flt.after_seq)
    equal = {
        AuditEventRow.organisation_id: flt.organisation_id,
        AuditEventRow.user_id: flt.user_id,
        AuditEventRow.subject_id: flt.subject_id,
        AuditEventRow.consent_id: flt.consent_id,
        AuditEventRow.purpose: flt.purpose,
        AuditEventRow.event_type: flt.event_type,
        AuditEventRow.decision: flt.decision,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(col(column) == value)
    if flt.since is not None:
        query = query.where(col(AuditEventRow.occurred_at) >= flt.since)
    if flt.until is not None:
        query = query.where(col(AuditEventRow.occurred_at) < flt.until)
    if flt.seq_from is not None:
        query = query.where(col(AuditEventRow.seq) >= flt.seq_from)
    if flt.seq_to is not None:
        query = query.where(col(AuditEventRow.seq) <= flt.seq_to)
    return list(session.exec(query.order_by(col(AuditEventRow.seq)).limit(limit)).all())
