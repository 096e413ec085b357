"""All SQL of the audit trail."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    table,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from gateway.audit.models import (
    AuditCheckpointRow,
    AuditEventRow,
    AuditPendingRow,
    AuditSubtreeRow,
    AuditVerificationRow,
)

# Any constant works; it names the one lock that serialises appends on PostgreSQL.
_CHAIN_LOCK_KEY = 0x61756469  # "audi"
LOCK_TIMEOUT_SECONDS = 30


def lock_chain(session: Session) -> None:
    """Serialise appenders until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock, so several gateway
    processes append one after another and the chain never forks. SQLite: the
    connection already began with ``BEGIN IMMEDIATE`` and holds the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        # A sequencer that stalls elsewhere must not hold every later one forever: the
        # wait ends with an error (the pending events stay, the next run takes them).
        session.exec(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))  # type: ignore[call-overload]
        session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK_KEY)
        )


def holds_lock_itself(session: Session) -> bool:
    """SQLite: every transaction begins with ``BEGIN IMMEDIATE`` and so holds the write lock.

    There an event is integrated at once, in the writer's transaction, at no
    cost in concurrency; PostgreSQL writers leave it pending for the sequencer.
    """
    return session.get_bind().dialect.name == "sqlite"


@dataclass(frozen=True)
class ChainHead:
    seq: int
    leaf_hash: str


@dataclass(frozen=True)
class ChainEnd:
    """The last event and the size of the tree the latest checkpoint signed (0: none yet)."""

    head: ChainHead | None
    signed: int


def _newest(column: Any) -> Any:
    return sa_select(column).order_by(_EVENTS.c.seq.desc()).limit(1).scalar_subquery()


_EVENTS = AuditEventRow.__table__  # type: ignore[attr-defined]  # SQLModel declares no __table__
_PENDING = AuditPendingRow.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = AuditCheckpointRow.__table__  # type: ignore[attr-defined]
_SUBTREES = AuditSubtreeRow.__table__  # type: ignore[attr-defined]
_VERIFICATIONS = AuditVerificationRow.__table__  # type: ignore[attr-defined]
_LEAF = -1  # marks leaf hashes among stored roots in ``proof_nodes``

# One round trip and one row, also for an empty trail: each part is an index lookup.
_CHAIN_END = sa_select(
    _newest(_EVENTS.c.seq),
    _newest(_EVENTS.c.leaf_hash),
    sa_select(func.max(_CHECKPOINTS.c.tree_size)).scalar_subquery(),
)


def chain_end(session: Session) -> ChainEnd:
    seq, leaf_hash, signed = session.execute(_CHAIN_END).one()
    head = ChainHead(seq=seq, leaf_hash=leaf_hash) if seq is not None else None
    return ChainEnd(head=head, signed=signed or 0)


def occurred_at(session: Session, seq: int) -> datetime | None:
    return session.exec(select(AuditEventRow.occurred_at).where(AuditEventRow.seq == seq)).first()


def add_events(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert sequenced events (one statement; many rows go as one multi-row INSERT)."""
    session.execute(insert(_EVENTS), rows)


def add_pending(session: Session, *, body: str, occurred_at: datetime) -> None:
    session.execute(insert(_PENDING).values(body=body, occurred_at=occurred_at))


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    body: str
    occurred_at: datetime


def take_pending(session: Session, *, limit: int) -> list[PendingEvent]:
    """Remove up to ``limit`` pending events, oldest first, and return them.

    Call with the chain lock held: the caller integrates them in the same
    transaction, so they are either in the chain or still pending, never lost.
    """
    rows = session.execute(
        sa_select(_PENDING.c.id, _PENDING.c.body, _PENDING.c.occurred_at)
        .order_by(_PENDING.c.id)
        .limit(limit)
    ).all()
    if rows:
        session.execute(delete(_PENDING).where(_PENDING.c.id.in_([row[0] for row in rows])))
    return [PendingEvent(*row) for row in rows]


def pending_count(session: Session) -> int:
    return int(session.execute(sa_select(func.count()).select_from(_PENDING)).scalar_one())


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


# -- stored subtree roots (gateway.audit.subtrees) ---------------------------------------------


def subtree_hashes(
    session: Session, nodes: Collection[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """The stored roots of ``nodes`` (level, idx), one primary-key read; absent ones left out."""
    found, _ = proof_nodes(session, nodes=nodes, seqs=())
    return found


def proof_nodes(
    session: Session, *, nodes: Collection[tuple[int, int]], seqs: Collection[int]
) -> tuple[dict[tuple[int, int], str], dict[int, str]]:
    """Stored roots of ``nodes`` and leaf hashes of events ``seqs``, in one round trip.

    Both are primary-key lookups; absent ones are left out.
    """
    parts = []
    if nodes:
        key = tuple_(_SUBTREES.c.level, _SUBTREES.c.idx)
        parts.append(
            sa_select(_SUBTREES.c.level, _SUBTREES.c.idx, _SUBTREES.c.hash).where(
                key.in_(list(nodes))
            )
        )
    if seqs:
        parts.append(
            sa_select(literal(_LEAF, Integer), _EVENTS.c.seq, _EVENTS.c.leaf_hash).where(
                _EVENTS.c.seq.in_(list(seqs))
            )
        )
    found: dict[tuple[int, int], str] = {}
    leaves: dict[int, str] = {}
    if not parts:
        return found, leaves
    for level, position, value in session.execute(
        union_all(*parts) if len(parts) > 1 else parts[0]
    ):
        if level == _LEAF:
            leaves[position] = value
        else:
            found[(level, position)] = value
    return found, leaves


def add_subtrees(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert subtree roots (``level``, ``idx``, ``hash``) in one statement."""
    if rows:
        session.execute(insert(_SUBTREES), rows)


def stored_subtrees(session: Session) -> set[tuple[int, int]]:
    """Every stored (level, idx); only for filling in what a bulk load left out."""
    return {
        (level, idx)
        for level, idx in session.execute(sa_select(_SUBTREES.c.level, _SUBTREES.c.idx))
    }


def subtree_batch(session: Session, *, level: int, first: int, limit: int) -> list[tuple[int, str]]:
    """Stored roots of ``level`` from index ``first`` on, in order: (idx, hash)."""
    statement = (
        sa_select(_SUBTREES.c.idx, _SUBTREES.c.hash)
        .where(_SUBTREES.c.level == level, _SUBTREES.c.idx >= first)
        .order_by(_SUBTREES.c.idx)
        .limit(limit)
    )
    return [(idx, value) for idx, value in session.execute(statement)]


def subtree_ends(session: Session) -> dict[int, int]:
    """Per stored level, the highest stored index."""
    statement = sa_select(_SUBTREES.c.level, func.max(_SUBTREES.c.idx)).group_by(_SUBTREES.c.level)
    return {level: last for level, last in session.execute(statement)}


# -- verifications run in the background (gateway.audit.verify_jobs) ------------------------


def unfinished_verification(session: Session) -> AuditVerificationRow | None:
    return session.exec(
        select(AuditVerificationRow).where(col(AuditVerificationRow.active).is_(True))
    ).first()


def latest_verification(session: Session) -> AuditVerificationRow | None:
    return session.exec(
        select(AuditVerificationRow).order_by(col(AuditVerificationRow.id).desc()).limit(1)
    ).first()


def add_verification(session: Session, row: AuditVerificationRow) -> None:
    session.add(row)
    session.flush()


def claim_verification(session: Session, *, job_id: int, now: datetime) -> bool:
    """Mark a queued verification started; False when another runner was first."""
    statement = (
        update(_VERIFICATIONS)
        .where(_VERIFICATIONS.c.id == job_id, _VERIFICATIONS.c.started_at.is_(None))
        .values(started_at=now)
        .returning(_VERIFICATIONS.c.id)
    )
    return session.execute(statement).first() is not None


def finish_verification(session: Session, *, job_id: int, values: dict[str, object]) -> None:
    """Store the outcome and free the one slot (``active`` becomes NULL)."""
    statement = (
        update(_VERIFICATIONS).where(_VERIFICATIONS.c.id == job_id).values(**values, active=None)
    )
    session.execute(statement)


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
# The columns of ``StoredEvent`` in its order, as one SELECT list for ``event_batches``.
_STORED_SQL = ", ".join(StoredEvent.__slots__)


def event_batches(session: Session, *, batch: int) -> Iterator[list[tuple[Any, ...]]]:
    """Every event in ``seq`` order as plain tuples in ``StoredEvent``'s column order.

    Verification reads millions of rows: a textual query per batch and plain
    tuples keep reading at a small fraction of the hashing work.
    """
    statement = text(
        f"SELECT {_STORED_SQL} FROM audit_events "  # noqa: S608 - constant column names
        "WHERE seq > :last ORDER BY seq LIMIT :batch"
    )
    connection = session.connection()
    last = 0
    while True:
        rows = [tuple(row) for row in connection.execute(statement, {"last": last, "batch": batch})]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


_RANGE = text(
    f"SELECT {_STORED_SQL} FROM audit_events "  # noqa: S608 - constant column names
    "WHERE seq > :after AND seq <= :upto ORDER BY seq"
)


def event_range(connection: Connection, *, after: int, upto: int) -> list[tuple[Any, ...]]:
    """The events ``after < seq <= upto`` as ``event_batches`` gives them."""
    return [tuple(row) for row in connection.execute(_RANGE, {"after": after, "upto": upto})]


def stored_leaf_hash(connection: Connection, seq: int) -> str | None:
    statement = sa_select(_EVENTS.c.leaf_hash).where(_EVENTS.c.seq == seq)
    value: str | None = connection.execute(statement).scalar()
    return value


def seq_bounds(session: Session) -> tuple[int | None, int | None]:
    """The lowest and highest ``seq`` above 0 (what the checks in order read)."""
    statement = sa_select(func.min(_EVENTS.c.seq), func.max(_EVENTS.c.seq)).where(_EVENTS.c.seq > 0)
    first, last = session.execute(statement).one()
    return first, last


def all_checkpoints(session: Session) -> list[AuditCheckpointRow]:
    return list(
        session.exec(select(AuditCheckpointRow).order_by(col(AuditCheckpointRow.tree_size))).all()
    )


# The consents table as far as scoping needs it (the audit layer imports no other models).
_CONSENTS = table("consents", column("id"), column("grantee_id"), column("jobcenter_id"))


@dataclass(frozen=True)
class EventFilter:
    """``organisation_id`` filters by the acting organisation. ``visible_to`` scopes to what
    one organisation's officer sees: its own events, and the gateway's own (no acting
    organisation) about consents it is party to, such as routing, expiry and deletions."""

    visible_to: str | None = None
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
    without_consent: bool = False  # only events under no consent (e.g. statutory questions)


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
    for field, value in equal.items():
        if value is not None:
            query = query.where(col(field) == value)
    if flt.without_consent:
        query = query.where(col(AuditEventRow.consent_id).is_(None))
    if flt.visible_to is not None:
        parties = sa_select(_CONSENTS.c.id).where(
            or_(
                _CONSENTS.c.grantee_id == flt.visible_to,
                _CONSENTS.c.jobcenter_id == flt.visible_to,
            )
        )
        query = query.where(
            or_(
                col(AuditEventRow.organisation_id) == flt.visible_to,
                col(AuditEventRow.organisation_id).is_(None)
                & col(AuditEventRow.consent_id).in_(parties),
            )
        )
    if flt.since is not None:
        query = query.where(col(AuditEventRow.occurred_at) >= flt.since)
    if flt.until is not None:
        query = query.where(col(AuditEventRow.occurred_at) < flt.until)
    if flt.seq_from is not None:
        query = query.where(col(AuditEventRow.seq) >= flt.seq_from)
    if flt.seq_to is not None:
        query = query.where(col(AuditEventRow.seq) <= flt.seq_to)
    return list(session.exec(query.order_by(col(AuditEventRow.seq)).limit(limit)).all())
