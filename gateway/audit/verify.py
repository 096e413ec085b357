"""Verifying the audit trail: chain, Merkle roots and checkpoint signatures, streaming.

Reads events in ``seq`` order in batches and keeps only an RFC 9162 frontier,
so memory stays flat however long the trail is. Stops at the first problem and
names its sequence number. What each check catches:

- a missing ``seq`` (deleted row): the gap;
- content that does not hash to the stored leaf hash (changed field);
- content whose ``seq`` differs from its row (swapped rows);
- a ``prev`` that is not the predecessor's leaf hash (changed and rehashed row);
- filter columns that disagree with the hashed event;
- a checkpoint whose root differs from the recomputed one, or whose signature
  does not verify (forged checkpoint);
- a checkpoint larger than the trail (truncated tail).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlmodel import Session

from gateway.audit import repository, rfc9162
from gateway.audit.models import AuditCheckpointRow
from gateway.audit.repository import StoredEvent
from gateway.audit.rfc8785 import parse_canonical
from gateway.audit.service import GENESIS_PREV

SIGNATURE_ALGORITHMS = ["Ed25519", "EdDSA"]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second) if self.seconds > 0 else None,
        }


class _Bad(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def verify_checkpoint_signature(row: AuditCheckpointRow, keys: KeySet) -> None:
    try:
        verified = jws.deserialize_compact(row.jws, keys, algorithms=SIGNATURE_ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise _Bad(row.tree_size, f"checkpoint {row.tree_size}: signature does not verify") from exc
    payload = json.loads(verified.payload)
    expected = {"tree_size": row.tree_size, "root_hash": row.root_hash, "timestamp": row.timestamp}
    if payload != expected:
        raise _Bad(
            row.tree_size, f"checkpoint {row.tree_size}: signed payload differs from the row"
        )


def _check_columns(row: StoredEvent, event: dict[str, Any]) -> None:
    actor = event.get("actor", {})
    expected = {
        "event_type": event.get("type"),
        "organisation_id": actor.get("organisation"),
        "user_id": actor.get("user"),
        "client_id": actor.get("client"),
        "subject_id": event.get("subject"),
        "consent_id": event.get("consent"),
        "purpose": event.get("purpose"),
        "decision": event.get("decision"),
    }
    for column, value in expected.items():
        if getattr(row, column) != value:
            raise _Bad(row.seq, f"event {row.seq}: column {column} disagrees with the hashed event")


def _check_event(row: StoredEvent, expected_seq: int, prev: str) -> bytes:
    if row.seq != expected_seq:
        raise _Bad(expected_seq, f"event {expected_seq} is missing")
    try:
        event, canonical = parse_canonical(row.event)
    except ValueError as exc:
        raise _Bad(row.seq, f"event {row.seq}: content is not JSON") from exc
    if not isinstance(event, dict) or event.get("seq") != row.seq:
        raise _Bad(row.seq, f"event {row.seq}: content belongs to another position")
    if canonical != row.event.encode("utf-8"):
        raise _Bad(row.seq, f"event {row.seq}: content is not in canonical form (altered)")
    leaf = rfc9162.leaf_hash(canonical)
    if leaf.hex() != row.leaf_hash:
        raise _Bad(row.seq, f"event {row.seq}: content does not match its leaf hash")
    if event.get("prev") != prev:
        # The predecessor was rewritten together with its hash: its successor
        # still commits to the original.
        bad = row.seq - 1 if row.seq > 1 else row.seq
        raise _Bad(bad, f"event {bad}: no longer matches the hash its successor recorded")
    _check_columns(row, event)
    return leaf


def verify_trail(session: Session, *, keys: KeySet, batch: int = 2000) -> VerifyReport:
    started = time.perf_counter()
    checkpoints = {row.tree_size: row for row in repository.all_checkpoints(session)}
    frontier = rfc9162.Frontier()
    prev = GENESIS_PREV
    seq = 0
    try:
        for row in repository.stream_events(session, batch=batch):
            leaf = _check_event(row, seq + 1, prev)
            seq = row.seq
            prev = leaf.hex()
            frontier.append(leaf)
            checkpoint = checkpoints.get(seq)
            if checkpoint is not None:
                if frontier.root().hex() != checkpoint.root_hash:
                    raise _Bad(seq, f"checkpoint {seq}: root hash differs from the recomputed tree")
                verify_checkpoint_signature(checkpoint, keys)
        beyond = [size for size in checkpoints if size > seq]
        if beyond:
            raise _Bad(
                seq + 1,
                f"events after {seq} are missing: a checkpoint covers {max(beyond)} events",
            )
    except _Bad as bad:
        return VerifyReport(
            ok=False,
            events=seq,
            checkpoints=len(checkpoints),
            first_bad_seq=bad.seq,
            problem=bad.problem,
            seconds=time.perf_counter() - started,
        )
    return VerifyReport(
        ok=True,
        events=seq,
        checkpoints=len(checkpoints),
        first_bad_seq=None,
        problem=None,
        seconds=time.perf_counter() - started,
    )
