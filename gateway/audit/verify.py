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
- a checkpoint larger than the trail (truncated tail);
- a stored subtree root (``gateway.audit.subtrees``) that differs from the
  recomputed tree, so proofs served from it would not verify, or that covers
  more events than the trail has (truncated tail). A missing one is no
  problem: proofs compute it from its leaves.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.audit import repository, rfc9162, subtrees
from gateway.audit.models import AuditCheckpointRow
from gateway.audit.repository import StoredEvent
from gateway.audit.rfc8785 import parse_canonical, parse_canonical_batch
from gateway.audit.service import GENESIS_PREV
from gateway.database import create_db_engine, reader

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


_COLUMNS = StoredEvent.__slots__[3:]  # the filter columns, in the order of event_batches' rows
_UNPARSED: Any = object()  # the batch was not all canonical: parse this event on its own


def _column_values(event: dict[str, Any]) -> tuple[Any, ...]:
    actor = event.get("actor")
    if not isinstance(actor, dict):
        actor = {}
    return (
        event.get("type"),
        actor.get("organisation"),
        actor.get("user"),
        actor.get("client"),
        event.get("subject"),
        event.get("consent"),
        event.get("purpose"),
        event.get("decision"),
    )


def _check_event(row: tuple[Any, ...], expected_seq: int, prev: str, event: Any) -> bytes:
    """Check one stored event; ``event`` is its content if known canonical, else ``_UNPARSED``."""
    seq, text, leaf_hash = row[0], row[1], row[2]
    if seq != expected_seq:
        raise _Bad(expected_seq, f"event {expected_seq} is missing")
    if event is _UNPARSED:
        try:
            event, canonical = parse_canonical(text)
        except ValueError as exc:
            raise _Bad(seq, f"event {seq}: content is not JSON") from exc
        if not isinstance(event, dict) or event.get("seq") != seq:
            raise _Bad(seq, f"event {seq}: content belongs to another position")
        if canonical != text.encode("utf-8"):
            raise _Bad(seq, f"event {seq}: content is not in canonical form (altered)")
    elif not isinstance(event, dict) or event.get("seq") != seq:
        raise _Bad(seq, f"event {seq}: content belongs to another position")
    leaf = rfc9162.leaf_hash(text.encode("utf-8"))
    if leaf.hex() != leaf_hash:
        raise _Bad(seq, f"event {seq}: content does not match its leaf hash")
    if event.get("prev") != prev:
        # The predecessor was rewritten together with its hash: its successor
        # still commits to the original.
        bad = seq - 1 if seq > 1 else seq
        raise _Bad(bad, f"event {bad}: no longer matches the hash its successor recorded")
    values = _column_values(event)
    if values != row[3:]:
        column = next(name for name, a, b in zip(_COLUMNS, values, row[3:], strict=True) if a != b)
        raise _Bad(seq, f"event {seq}: column {column} disagrees with the hashed event")
    return leaf


def _check_batch(rows: list[tuple[Any, ...]], first_seq: int, prev: str) -> list[bytes] | None:
    """Every check of ``_check_event`` over a whole batch; its leaf hashes, or None if any fails."""
    events = parse_canonical_batch([row[1] for row in rows])
    if events is None or not all(type(event) is dict for event in events):
        return None
    columns = list(zip(*rows, strict=True))
    seqs, hashes = list(columns[0]), list(columns[2])
    if seqs != list(range(first_seq, first_seq + len(rows))):
        return None
    if [event.get("seq") for event in events] != seqs:
        return None
    leaves = [rfc9162.leaf_hash(row[1].encode("utf-8")) for row in rows]
    if [leaf.hex() for leaf in leaves] != hashes:
        return None
    if [event.get("prev") for event in events] != [prev, *hashes[:-1]]:
        return None
    if [_column_values(event) for event in events] != [row[3:] for row in rows]:
        return None
    return leaves


def _checked_in_order(session: Session, *, batch: int) -> Iterator[tuple[int, list[bytes]]]:
    """Each batch of events checked in this process: (its first seq, its leaf hashes)."""
    seq, prev = 0, GENESIS_PREV
    for rows in repository.event_batches(session, batch=batch):
        yield seq + 1, _checked_rows(rows, seq + 1, prev)
        seq, prev = rows[-1][0], rows[-1][2]


def _checked_rows(rows: list[tuple[Any, ...]], first_seq: int, prev: str) -> list[bytes]:
    # Checking events one by one costs more than everything else together;
    # a batch that passes every check at once needs no more (the common case).
    leaves = _check_batch(rows, first_seq, prev)
    if leaves is None:  # something is wrong in this batch: find the first problem
        leaves = []
        expected, last = first_seq, prev
        for row in rows:
            leaves.append(_check_event(row, expected, last, _UNPARSED))
            expected, last = row[0] + 1, row[2]
    return leaves


class _StoredRoots:
    """The stored subtree roots, read level by level in index order as the tree is rebuilt.

    One buffer of at most ``batch`` rows per level (some 40 levels at most), so
    memory stays flat however long the trail is.
    """

    def __init__(self, session: Session, *, batch: int) -> None:
        self._session = session
        self._batch = batch
        self._buffers: dict[int, deque[tuple[int, str]]] = {}
        self._read_all: set[int] = set()

    def check(self, size: int, completed: list[bytes]) -> None:
        """Compare the roots ``Frontier.append_completed`` returned at tree ``size``."""
        for level in range(subtrees.STORED_FROM_LEVEL, len(completed)):
            stored = self._stored(level, (size >> level) - 1)
            if stored is not None and stored != completed[level].hex():
                first = size - (1 << level) + 1
                raise _Bad(
                    size,
                    f"stored subtree root of events {first} to {size} differs from the "
                    "recomputed tree",
                )

    def _stored(self, level: int, idx: int) -> str | None:
        buffer = self._buffers.setdefault(level, deque())
        while True:
            while buffer and buffer[0][0] < idx:
                buffer.popleft()
            if buffer:
                if buffer[0][0] != idx:
                    return None  # not stored: proofs compute it from the leaves
                return buffer.popleft()[1]
            if level in self._read_all:
                return None
            rows = repository.subtree_batch(
                self._session, level=level, first=idx, limit=self._batch
            )
            if len(rows) < self._batch:
                self._read_all.add(level)
            buffer.extend(rows)

    def check_end(self, size: int) -> None:
        """No stored root may cover events beyond ``size`` (the trail's last)."""
        ends = [
            (last + 1) << level for level, last in repository.subtree_ends(self._session).items()
        ]
        if ends and max(ends) > size:
            raise _Bad(
                size + 1,
                f"events after {size} are missing: a stored subtree root covers {max(ends)} events",
            )


# -- in several processes ---------------------------------------------------------------------

_WORKER_ENGINES: dict[str, Engine] = {}


def _check_range(
    url: str, after: int, upto: int
) -> tuple[list[bytes], None] | tuple[None, tuple[int, str]]:
    """In a worker process: every check of the events ``after < seq <= upto``.

    Returns their leaf hashes, or ``(None, (seq, problem))`` for the first problem,
    the same one the checks in order would name.
    """
    engine = _WORKER_ENGINES.get(url)
    if engine is None:
        engine = _WORKER_ENGINES[url] = reader(create_db_engine(url))
    with engine.connect() as connection:
        rows = repository.event_range(connection, after=after, upto=upto)
        prev = GENESIS_PREV if after == 0 else repository.stored_leaf_hash(connection, after)
    try:
        if prev is None:  # the range before ends short and names the gap itself
            raise _Bad(after, f"event {after} is missing")
        if not rows:
            raise _Bad(after + 1, f"event {after + 1} is missing")
        leaves = _checked_rows(rows, after + 1, prev)
        if rows[-1][0] != upto:
            raise _Bad(rows[-1][0] + 1, f"event {rows[-1][0] + 1} is missing")
    except _Bad as bad:
        return None, (bad.seq, bad.problem)
    return leaves, None


def _checked_in_parallel(
    session: Session, *, batch: int, workers: int
) -> Iterator[tuple[int, list[bytes]]]:
    """The batches of ``_checked_in_order``, checked by ``workers`` processes, in order.

    Each worker reads its own range of ``seq`` from the database; at most two
    ranges per worker are in flight, so memory stays flat.
    """
    first, last = repository.seq_bounds(session)
    if not isinstance(last, int) or not isinstance(first, int):
        # SQLite stores whatever is written; a seq that is no integer (rewritten behind the
        # database's back) cannot be split into ranges, so the checks in order name it.
        yield from _checked_in_order(session, batch=batch)
        return
    if first != 1:
        raise _Bad(1, "event 1 is missing")
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    ranges = ((after, min(after + batch, last)) for after in range(0, last, batch))
    context = multiprocessing.get_context("spawn")  # no locks or threads inherited
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[int, Future[Any]]] = deque()
        try:
            for after, upto in ranges:
                pending.append((after, pool.submit(_check_range, url, after, upto)))
                if len(pending) >= 2 * workers:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()


def _result(after: int, future: Future[Any]) -> tuple[int, list[bytes]]:
    leaves, problem = future.result()
    if problem is not None:
        raise _Bad(*problem)
    return after + 1, leaves


# Below this many events, starting worker processes costs more than it saves.
PARALLEL_FROM = 50_000


# Each worker holds a database connection and some 90 MiB.
MAX_WORKERS = 8


def workers_for(session: Session) -> int:
    """Processes for ``verify_trail``: one per CPU this process may use (at most
    ``MAX_WORKERS``) for a long trail, else none besides this one."""
    _, last = repository.seq_bounds(session)
    if not isinstance(last, int) or last < PARALLEL_FROM:
        return 1
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def verify_trail(
    session: Session, *, keys: KeySet, batch: int = 5000, workers: int = 1
) -> VerifyReport:
    """Verify the whole trail. ``workers`` above 1: the events' own checks run in that
    many processes (on ``batch``-sized ranges); the tree and the checkpoints are
    checked here, in order, either way."""
    started = time.perf_counter()
    checkpoints = {row.tree_size: row for row in repository.all_checkpoints(session)}
    frontier = rfc9162.Frontier()
    stored = _StoredRoots(session, batch=batch)
    seq = 0
    try:
        checked = (
            _checked_in_parallel(session, batch=batch, workers=workers)
            if workers > 1
            else _checked_in_order(session, batch=batch)
        )
        for first, leaves in checked:
            for seq, leaf in enumerate(leaves, start=first):
                if seq % subtrees.BLOCK:
                    frontier.append(leaf)
                else:  # this leaf completes stored subtrees: compare their roots
                    stored.check(seq, frontier.append_completed(leaf))
                checkpoint = checkpoints.get(seq)
                if checkpoint is not None:
                    if frontier.root().hex() != checkpoint.root_hash:
                        raise _Bad(
                            seq, f"checkpoint {seq}: root hash differs from the recomputed tree"
                        )
                    verify_checkpoint_signature(checkpoint, keys)
        beyond = [size for size in checkpoints if size > seq]
        if beyond:
            raise _Bad(
                seq + 1,
                f"events after {seq} are missing: a checkpoint covers {max(beyond)} events",
            )
        stored.check_end(seq)
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
