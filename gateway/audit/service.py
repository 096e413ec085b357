"""Writing the audit trail, signing checkpoints, and serving proofs.

An event is appended in the transaction of the change it records (the caller
passes its session and commits). Appends are serialised by
``repository.lock_chain``; each event carries its ``seq`` and the leaf hash of
its predecessor (``prev``), so gaps and reorderings show even between
checkpoints. A checkpoint (signed tree head) is written every
``checkpoint_every`` events or when the last one is older than
``checkpoint_seconds``, whichever comes first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws
from sqlmodel import Session

from gateway.audit import repository, rfc9162
from gateway.audit.models import AuditCheckpointRow, AuditEventRow
from gateway.audit.rfc8785 import canonical_bytes
from gateway.clock import as_utc, utcnow
from gateway.errors import NotFound
from gateway.keys import KeyPurpose, KeyStore
from gateway.observability.tracing import tracer

GENESIS_PREV = "0" * 64


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-25T08:00:00.123Z``."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Actor:
    """Who caused an event. Identifiers only: never names."""

    organisation_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None

    def as_event(self) -> dict[str, str]:
        fields = {
            "organisation": self.organisation_id,
            "user": self.user_id,
            "client": self.client_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


SYSTEM = Actor()


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


def _frontier_from_row(row: AuditCheckpointRow | None) -> rfc9162.Frontier:
    if row is None:
        return rfc9162.Frontier()
    hashes = [bytes.fromhex(item) for item in json.loads(row.frontier)]
    return rfc9162.Frontier(row.tree_size, hashes)


class AuditTrail:
    """The gateway's audit trail; one instance per process, sessions passed per call."""

    def __init__(self, *, keys: KeyStore, checkpoint_every: int, checkpoint_seconds: float) -> None:
        self._keys = keys
        self._every = checkpoint_every
        self._max_age = timedelta(seconds=checkpoint_seconds)

    def record(self, session: Session, event: AuditEvent) -> int:
        """Append ``event`` in the caller's transaction; returns its sequence number."""
        with tracer.start_as_current_span("audit.append", attributes={"audit.type": event.type}):
            return self._record(session, event)

    def _record(self, session: Session, event: AuditEvent) -> int:
        repository.lock_chain(session)
        head = repository.head(session)
        seq = head.seq + 1 if head else 1
        now = utcnow()
        document = {
            "seq": seq,
            "prev": head.leaf_hash if head else GENESIS_PREV,
            "time": format_time(now),
            **event.body(),
        }
        leaf = rfc9162.leaf_hash(canonical_bytes(document)).hex()
        repository.add_event(
            session,
            AuditEventRow(
                seq=seq,
                event=canonical_bytes(document).decode("utf-8"),
                leaf_hash=leaf,
                event_type=event.type,
                occurred_at=now,
                organisation_id=event.actor.organisation_id,
                user_id=event.actor.user_id,
                client_id=event.actor.client_id,
                subject_id=event.subject_id,
                consent_id=event.consent_id,
                purpose=event.purpose,
                decision=event.decision,
            ),
        )
        self._checkpoint_if_due(session, tree_size=seq, now=now)
        return seq

    def checkpoint_if_due(self, session: Session, *, force: bool = False) -> Checkpoint | None:
        """Sign a tree head over every event so far if one is due (or ``force``d, for exports).

        Returns None when the latest checkpoint already covers every event.
        """
        repository.lock_chain(session)
        head = repository.head(session)
        if head is None:
            return None
        return self._checkpoint_if_due(session, tree_size=head.seq, now=utcnow(), force=force)

    def _checkpoint_if_due(
        self, session: Session, *, tree_size: int, now: datetime, force: bool = False
    ) -> Checkpoint | None:
        last = repository.latest_checkpoint(session)
        last_size = last.tree_size if last else 0
        if tree_size <= last_size:
            return None
        if tree_size - last_size < self._every and not force:
            # Not enough events yet: sign only if the oldest unsigned one waits too long.
            oldest_unsigned = repository.occurred_at(session, last_size + 1)
            if oldest_unsigned is None or now - as_utc(oldest_unsigned) < self._max_age:
                return None
        frontier = _frontier_from_row(last)
        for leaf in repository.leaf_hashes(session, after=last_size, upto=tree_size):
            frontier.append(bytes.fromhex(leaf))
        return self._sign(session, frontier=frontier, now=now)

    def _sign(self, session: Session, *, frontier: rfc9162.Frontier, now: datetime) -> Checkpoint:
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

    def latest_checkpoint(self, session: Session) -> Checkpoint:
        row = repository.latest_checkpoint(session)
        if row is None:
            raise NotFound("No checkpoint has been signed yet.", slug="no-checkpoint")
        return Checkpoint.from_row(row)

    def inclusion_proof(
        self, session: Session, *, seq: int, tree_size: int | None
    ) -> dict[str, Any]:
        checkpoint = self._checkpoint_for(session, tree_size)
        if not 1 <= seq <= checkpoint.tree_size:
            raise NotFound(
                f"Event {seq} is not covered by the checkpoint of size {checkpoint.tree_size}.",
                slug="event-not-in-tree",
            )
        leaves = self._leaves(session, checkpoint.tree_size)
        path = rfc9162.inclusion_proof(seq - 1, leaves)
        return {
            "leaf_index": seq - 1,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "leaf_hash": leaves[seq - 1].hex(),
            "audit_path": [node.hex() for node in path],
            "checkpoint": checkpoint.public(),
        }

    def consistency_proof(self, session: Session, *, first: int, second: int) -> dict[str, Any]:
        old = self._checkpoint_for(session, first)
        new = self._checkpoint_for(session, second)
        if old.tree_size > new.tree_size:
            old, new = new, old
        leaves = self._leaves(session, new.tree_size)
        proof = rfc9162.consistency_proof(old.tree_size, leaves) if old.tree_size else []
        return {
            "first": old.public(),
            "second": new.public(),
            "consistency_path": [node.hex() for node in proof],
        }

    def _checkpoint_for(self, session: Session, tree_size: int | None) -> Checkpoint:
        if tree_size is None:
            return self.latest_checkpoint(session)
        row = repository.checkpoint_at(session, tree_size)
        if row is None:
            raise NotFound(f"No checkpoint of tree size {tree_size}.", slug="no-checkpoint")
        return Checkpoint.from_row(row)

    @staticmethod
    def _leaves(session: Session, tree_size: int) -> list[bytes]:
        # Proofs need the subtree hashes around one leaf; reading the leaf
        # hashes (32 bytes each) is simple and fast enough for millions.
        return [bytes.fromhex(h) for h in repository.leaf_hashes(session, after=0, upto=tree_size)]
