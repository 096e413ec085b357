"""Writing the audit trail, signing checkpoints, and serving proofs.

An event is accepted in the transaction of the change it records (the caller
passes its session and commits), so it is durable exactly when the change is.
Each event carries its ``seq`` and the leaf hash of its predecessor (``prev``),
so gaps and reorderings show even between checkpoints; assigning those is
*sequencing*, serialised by ``repository.lock_chain``.

- SQLite: every transaction holds the database's write lock from its start,
  so ``record`` sequences the event at once, in the writer's transaction.
- PostgreSQL: holding the chain lock until the writer commits would let one
  request commit at a time. ``record`` instead inserts the event into
  ``audit_pending`` without any lock, and a sequencer integrates pending
  events in batches under the lock, the way an RFC 9162 log accepts entries
  and merges them into its tree within a maximum merge delay. The sequencer
  runs right after a writer's commit (writers of one process share runs, and
  each waits until a run that started after its commit is done, so a request
  returns with its event in the chain), on every scheduler tick, and before
  every read of the trail. An event whose writer died after committing stays
  pending until the next run integrates it: nothing committed is lost.

Sequencing also stores the roots of the Merkle subtrees a batch completes
(``gateway.audit.subtrees``), in the same transaction, so proofs never read
every leaf.

A checkpoint (signed tree head) is written every ``checkpoint_every`` events
or when the oldest unsigned one is older than ``checkpoint_seconds``,
whichever comes first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from joserfc import jws
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from gateway.audit import repository, rfc9162, subtrees
from gateway.audit.models import AuditCheckpointRow
from gateway.audit.rfc8785 import canonical_bytes
from gateway.clock import as_utc, utcnow
from gateway.errors import NotFound
from gateway.keys import KeyPurpose, KeyStore
from gateway.observability.tracing import tracer

logger = structlog.get_logger(__name__)

GENESIS_PREV = "0" * 64


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-25T08:00:00.123Z``."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Actor:
    """Who caused an event. Identifiers only: never names.

    Staff act through a client (``client``) for an organisation, as a user
    where the token names one. ``kind`` names an actor that is neither: the
    gateway itself (``gateway``: expiry, deadlines, deletions) or the person
    (``person``), with ``via`` the means they used (``self_service_code``,
    ``confirmation_link``). No event has an empty actor.
    """

    organisation_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    kind: str | None = None
    via: str | None = None

    def as_event(self) -> dict[str, str]:
        fields = {
            "kind": self.kind,
            "via": self.via,
            "organisation": self.organisation_id,
            "user": self.user_id,
            "client": self.client_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


#: The gateway's own work: expiry, deadlines, retention, routing.
SYSTEM = Actor(kind="gateway")
#: The person, by the self-service code of their receipt.
PERSON_BY_CODE = Actor(kind="person", via="self_service_code")
#: The person, by the confirmation link sent to their own phone.
PERSON_BY_CONFIRMATION = Actor(kind="person", via="confirmation_link")


@dataclass(frozen=True)
class AuditEvent:
    """What happened. ``hashes`` refer to payloads; payloads never enter the trail."""

    type: str
    actor: Actor = SYSTEM
    subject_id: str | None = None
    consent_id: str | None = None
    query_id: str | None = None
    purpose: str | None = None
    decision: str | None = None
    reasons: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    policy_version: str | None = None
    trace_id: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "actor": self.actor.as_event(),
            "subject": self.subject_id,
            "consent": self.consent_id,
            "query": self.query_id,
            "purpose": self.purpose,
            "decision": self.decision,
            "reasons": list(self.reasons) or None,
            "policies": list(self.policies) or None,
            "policy_version": self.policy_version,
            "trace_id": self.trace_id,
            "hashes": self.hashes or None,
            "details": self.details or None,
        }
        return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: str
    timestamp: str
    jws: str

    def public(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "jws": self.jws,
        }

    @classmethod
    def from_row(cls, row: AuditCheckpointRow) -> Checkpoint:
        return cls(
            tree_size=row.tree_size, root_hash=row.root_hash, timestamp=row.timestamp, jws=row.jws
        )


# Pending events integrated per sequencer transaction: bounds its duration and memory.
SEQUENCE_BATCH = 2000
# How long a writer waits after its commit for its event to enter the chain. After that
# the event stays pending (it is durable) and the next run integrates it.
INTEGRATE_WAIT_SECONDS = 10.0

_PENDING_TRAIL = "gateway.audit.pending_trail"
_COMMITTED = "gateway.audit.committed"
_LEARNED = "gateway.audit.learned"


class _SharedRuns:
    """One run of the sequencer at a time per process, shared by the threads that need one.

    ``run_after_now`` returns once a run that *started after the call* has
    finished (the caller's committed event is then in the chain): callers that
    arrive while a run is going wait for the next one, which one of them
    leads for all, like a database's group commit.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = False
        self._started = 0
        self._finished = 0
        self._succeeded = 0  # the last run that ended without an error

    def run_after_now(self, work: Callable[[], object], *, timeout: float) -> bool:
        """False when no such run finished within ``timeout`` seconds, or it failed (the
        leader sees the error itself)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            needed = self._started + 1
            while True:
                if self._finished >= needed:
                    return self._succeeded >= needed
                if not self._running:
                    break  # lead the run: it starts after the call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            self._running = True
            self._started += 1
            mine = self._started
        succeeded = False
        try:
            work()
            succeeded = True
        finally:
            with self._changed:
                self._running = False
                self._finished = mine
                if succeeded:
                    self._succeeded = mine
                self._changed.notify_all()
        return True


def _engine_of(session: OrmSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


class AuditTrail:
    """The gateway's audit trail; one instance per process, sessions passed per call."""

    def __init__(self, *, keys: KeyStore, checkpoint_every: int, checkpoint_seconds: float) -> None:
        self._keys = keys
        self._every = checkpoint_every
        self._max_age = timedelta(seconds=checkpoint_seconds)
        self._runs = _SharedRuns()
        # Per database: (tree size of the latest checkpoint, time of the event after it),
        # learned from committed transactions only. Committed events never change, so
        # while no newer checkpoint exists the age check needs no query.
        self._oldest: dict[str, tuple[int, datetime]] = {}

    def record(self, session: Session, event: AuditEvent) -> int | None:
        """Accept ``event`` in the caller's transaction.

        Returns its sequence number when it was sequenced at once (SQLite),
        None when it waits in ``audit_pending`` for the sequencer (PostgreSQL),
        which integrates it after the caller commits.
        """
        with tracer.start_as_current_span("audit.append", attributes={"audit.type": event.type}):
            now = utcnow()
            body = {"time": format_time(now), **event.body()}
            if repository.holds_lock_itself(session):
                size, _ = self._append(session, [(body, now)], now=now, check_age=True)
                return size
            repository.add_pending(
                session, body=canonical_bytes(body).decode("utf-8"), occurred_at=now
            )
            session.info[_PENDING_TRAIL] = self
            return None

    def integrate(self, session: Session) -> None:
        """Sequence every pending event, so a read that follows sees the whole trail."""
        if repository.holds_lock_itself(session):
            self._integrate_in(session, now=utcnow(), check_age=False)
        elif not self._runs.run_after_now(
            lambda: self._sequence_all(_engine_of(session), within=INTEGRATE_WAIT_SECONDS),
            timeout=INTEGRATE_WAIT_SECONDS,
        ):
            logger.warning("audit_sequencing_waited_too_long")

    def checkpoint_if_due(self, session: Session, *, force: bool = False) -> Checkpoint | None:
        """Integrate pending events, then sign a tree head over every event if one is due.

        ``force`` signs even when neither the count nor the age is reached
        (exports need a checkpoint over everything). Returns None when the
        latest checkpoint already covers every event. On PostgreSQL the
        sequencer commits on its own; the caller's session sees the result.
        """
        if repository.holds_lock_itself(session):
            return self._integrate_in(session, now=utcnow(), check_age=True, force=force)
        return self._sequence_all(_engine_of(session), force=force)

    def after_commit(self, session: OrmSession) -> None:
        """Called once a writer's transaction with pending events has committed."""
        try:
            if not self._runs.run_after_now(
                lambda: self._sequence_all(_engine_of(session), within=INTEGRATE_WAIT_SECONDS),
                timeout=INTEGRATE_WAIT_SECONDS,
            ):
                logger.warning("audit_sequencing_waited_too_long")
        except Exception as exc:
            # The change and its event are committed; the next run integrates the event.
            logger.warning("audit_sequencing_failed", error_type=type(exc).__name__)

    # -- sequencing ----------------------------------------------------------------------

    def _sequence_all(
        self, engine: Engine, *, force: bool = False, within: float | None = None
    ) -> Checkpoint | None:
        """PostgreSQL: integrate pending events in batches, one transaction each, under the lock.

        ``within`` bounds a run that a request leads: after that many seconds it ends
        after its current batch, and the scheduler's tick integrates the rest (the events
        are durable meanwhile), so a backlog never holds a request."""
        deadline = None if within is None else time.monotonic() + within
        signed: Checkpoint | None = None
        while True:
            with Session(engine) as session:
                repository.lock_chain(session)
                pending = repository.take_pending(session, limit=SEQUENCE_BATCH)
                last_batch = len(pending) < SEQUENCE_BATCH
                _, checkpoint = self._append(
                    session,
                    [(json.loads(item.body), item.occurred_at) for item in pending],
                    now=utcnow(),
                    check_age=last_batch,
                    force=force and last_batch,
                )
                session.commit()
            signed = checkpoint or signed
            if last_batch or (deadline is not None and time.monotonic() >= deadline):
                return signed

    def _integrate_in(
        self, session: Session, *, now: datetime, check_age: bool, force: bool = False
    ) -> Checkpoint | None:
        """SQLite: the caller's transaction holds the write lock; integrate in it."""
        repository.lock_chain(session)
        signed: Checkpoint | None = None
        while True:
            pending = repository.take_pending(session, limit=SEQUENCE_BATCH)
            last_batch = len(pending) < SEQUENCE_BATCH
            if pending or (last_batch and (check_age or force)):
                _, checkpoint = self._append(
                    session,
                    [(json.loads(item.body), item.occurred_at) for item in pending],
                    now=now,
                    check_age=check_age and last_batch,
                    force=force and last_batch,
                )
                signed = checkpoint or signed
            if last_batch:
                return signed

    def _append(
        self,
        session: Session,
        items: Sequence[tuple[dict[str, Any], datetime]],
        *,
        now: datetime,
        check_age: bool,
        force: bool = False,
    ) -> tuple[int, Checkpoint | None]:
        """Chain ``items`` (event bodies with ``time``) after the head; sign checkpoints due.

        The caller holds the chain lock. Returns the new tree size and the
        last checkpoint signed, if any.
        """
        end = repository.chain_end(session)
        database = str(_engine_of(session).url)
        known = self._oldest.get(database)
        tree = subtrees.GrowingTree(
            session, end=end, oldest_known=known[1] if known and known[0] == end.signed else None
        )
        prev = end.head.leaf_hash if end.head else GENESIS_PREV
        signed: Checkpoint | None = None
        rows: list[dict[str, object]] = []
        for body, occurred_at in items:
            seq = tree.size + 1
            canonical = canonical_bytes({"seq": seq, "prev": prev, **body})
            leaf = rfc9162.leaf_hash(canonical)
            prev = leaf.hex()
            actor = body.get("actor") or {}
            rows.append(
                {
                    "seq": seq,
                    "event": canonical.decode("utf-8"),
                    "leaf_hash": prev,
                    "event_type": body["type"],
                    "occurred_at": occurred_at,
                    "organisation_id": actor.get("organisation"),
                    "user_id": actor.get("user"),
                    "client_id": actor.get("client"),
                    "subject_id": body.get("subject"),
                    "consent_id": body.get("consent"),
                    "purpose": body.get("purpose"),
                    "decision": body.get("decision"),
                }
            )
            tree.add(leaf, occurred_at)
            if tree.unsigned >= self._every:
                signed = self.sign_checkpoint(
                    session, frontier=tree.frontier_for_signing(), now=now
                )
        if rows:
            repository.add_events(session, rows)
        due = force or (check_age and self._too_old(tree.oldest_unsigned(), now))
        if tree.unsigned and due:
            signed = self.sign_checkpoint(session, frontier=tree.frontier_for_signing(), now=now)
        tree.store()  # the subtrees this batch completed, in its transaction
        if tree.unsigned:
            oldest = tree.oldest_unsigned()
            if oldest is not None:
                session.info[_LEARNED] = (self, database, tree.signed, oldest)
        return tree.size, signed

    def _too_old(self, oldest_unsigned: datetime | None, now: datetime) -> bool:
        return oldest_unsigned is not None and now - as_utc(oldest_unsigned) >= self._max_age

    def sign_checkpoint(
        self, session: Session, *, frontier: rfc9162.Frontier, now: datetime
    ) -> Checkpoint:
        """Sign and store the tree head of ``frontier`` (the caller holds the chain lock)."""
        key = self._keys.active(KeyPurpose.AUDIT)
        root_hash = frontier.root().hex()
        timestamp = format_time(now)
        payload = {"tree_size": frontier.size, "root_hash": root_hash, "timestamp": timestamp}
        token = jws.serialize_compact(
            {"alg": key.alg, "kid": key.kid, "typ": "tree-head+jws"},
            canonical_bytes(payload),
            key.jwk,
            algorithms=[key.alg],
        )
        repository.add_checkpoint(
            session,
            AuditCheckpointRow(
                tree_size=frontier.size,
                root_hash=root_hash,
                timestamp=timestamp,
                jws=token,
                kid=key.kid,
                frontier=json.dumps([item.hex() for item in frontier.hashes]),
            ),
        )
        return Checkpoint(
            tree_size=frontier.size,
            root_hash=root_hash,
            timestamp=timestamp,
            jws=token,
        )

    # -- reading ---------------------------------------------------------------

    # Every reader integrates pending events first, so it sees the whole trail. Proofs read
    # stored subtree roots (``subtrees``): O(log n) rows, whatever the trail's length.

    def latest_checkpoint(self, session: Session) -> Checkpoint:
        self.integrate(session)
        return self._latest_checkpoint(session)

    @staticmethod
    def _latest_checkpoint(session: Session) -> Checkpoint:
        row = repository.latest_checkpoint(session)
        if row is None:
            raise NotFound("No checkpoint has been signed yet.", slug="no-checkpoint")
        return Checkpoint.from_row(row)

    def inclusion_proof(
        self, session: Session, *, seq: int, tree_size: int | None
    ) -> dict[str, Any]:
        self.integrate(session)
        checkpoint = self._checkpoint_for(session, tree_size)
        if not 1 <= seq <= checkpoint.tree_size:
            raise NotFound(
                f"Event {seq} is not covered by the checkpoint of size {checkpoint.tree_size}.",
                slug="event-not-in-tree",
            )
        leaf, path = subtrees.inclusion_proof(session, index=seq - 1, size=checkpoint.tree_size)
        return {
            "leaf_index": seq - 1,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "leaf_hash": leaf.hex(),
            "audit_path": [node.hex() for node in path],
            "checkpoint": checkpoint.public(),
        }

    def consistency_proof(self, session: Session, *, first: int, second: int) -> dict[str, Any]:
        self.integrate(session)
        old = self._checkpoint_for(session, first)
        new = self._checkpoint_for(session, second)
        if old.tree_size > new.tree_size:
            old, new = new, old
        proof = (
            subtrees.consistency_proof(session, old_size=old.tree_size, size=new.tree_size)
            if old.tree_size
            else []
        )
        return {
            "first": old.public(),
            "second": new.public(),
            "consistency_path": [node.hex() for node in proof],
        }

    def _checkpoint_for(self, session: Session, tree_size: int | None) -> Checkpoint:
        if tree_size is None:
            return self._latest_checkpoint(session)
        row = repository.checkpoint_at(session, tree_size)
        if row is None:
            raise NotFound(f"No checkpoint of tree size {tree_size}.", slug="no-checkpoint")
        return Checkpoint.from_row(row)


@sa_event.listens_for(OrmSession, "after_commit")
def _note_commit(session: OrmSession) -> None:
    if session.in_nested_transaction():
        return
    if _PENDING_TRAIL in session.info:
        session.info[_COMMITTED] = True
    learned = session.info.pop(_LEARNED, None)
    if learned is not None:
        trail, database, signed, oldest = learned
        trail._oldest[database] = (signed, oldest)


@sa_event.listens_for(OrmSession, "after_transaction_end")
def _integrate_after_commit(session: OrmSession, transaction: SessionTransaction) -> None:
    # Runs once the writer's connection is back in the pool, so the sequencer's
    # own transaction never waits for a second connection held by its writer.
    if transaction.parent is not None:
        return
    session.info.pop(_LEARNED, None)  # rolled back: what the transaction saw is void
    trail = session.info.pop(_PENDING_TRAIL, None)
    committed = session.info.pop(_COMMITTED, False)
    if committed and isinstance(trail, AuditTrail):
        trail.after_commit(session)
