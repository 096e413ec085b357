"""Stored roots of the Merkle tree's perfect subtrees, so a proof reads O(log n) rows.

Every subtree that an RFC 9162 inclusion proof (section 2.1.3.1) or
consistency proof (section 2.1.4.1) names is made of *aligned perfect
subtrees*: nodes of the whole tree covering leaves ``i * 2**k`` to
``(i + 1) * 2**k`` (``rfc9162.perfect_subtrees``). A node never changes once
its last leaf exists, so its root is stored (table ``audit_subtrees``) in the
transaction that sequences that leaf, append-only like the events. A proof
then reads, in one statement, at most two stored roots per tree level and the
leaf hashes of a few blocks of ``BLOCK`` leaves, instead of every leaf hash.

Nodes below ``STORED_FROM_LEVEL`` are not stored: each is the root of at most
``BLOCK / 2`` leaves, which a proof reads instead. That keeps the table at an
eighth of the events' row count (levels 4 and up: n/16 + n/32 + ...) for at
most a few dozen more leaf hashes per proof.

The stored roots are a cache of what the events already commit to: the
verifier (``gateway.audit.verify``) recomputes and compares every stored root,
and a node missing (a trail bulk-loaded behind the gateway's back) is
computed from its leaves, slowly but correctly; the sequencer fills in every
missing node the first time it needs one (``fill_in``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import structlog
from sqlmodel import Session

from gateway.audit import repository, rfc9162
from gateway.audit.rfc9162 import Node

logger = structlog.get_logger(__name__)

STORED_FROM_LEVEL = 4
BLOCK = 1 << STORED_FROM_LEVEL  # leaves under the lowest stored node
# Leaf hashes read per statement while filling in missing nodes.
FILL_BATCH = 10_000


def _leaves_of(node: Node) -> range:
    """The 0-based leaf indexes under ``node`` (seq = index + 1)."""
    level, index = node
    return range(index << level, (index + 1) << level)


def read_nodes(session: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The roots of ``nodes``: stored ones and the leaves under low ones, in one read.

    Raises ``LookupError`` when a leaf under a node is not in the trail.
    """
    wanted = set(nodes)
    stored = {node for node in wanted if node[0] >= STORED_FROM_LEVEL}
    low = wanted - stored
    seqs = {index + 1 for node in low for index in _leaves_of(node)}
    roots, leaf_values = repository.proof_nodes(session, nodes=stored, seqs=seqs)
    if len(leaf_values) != len(seqs):
        raise LookupError(f"the trail lacks event {min(seqs - leaf_values.keys())}")
    found = {node: bytes.fromhex(value) for node, value in roots.items()}
    leaves = {seq: bytes.fromhex(value) for seq, value in leaf_values.items()}
    for node in low:
        found[node] = rfc9162.root_of([leaves[index + 1] for index in _leaves_of(node)])
    for node in stored - roots.keys():
        # Only a trail loaded behind the gateway's back lacks one: correct, not fast.
        logger.warning("audit_subtree_missing", level=node[0], idx=node[1])
        span = _leaves_of(node)
        values = repository.leaf_hashes(session, after=span.start, upto=span.stop)
        if len(values) != len(span):
            raise LookupError(f"the trail lacks events between {span.start + 1} and {span.stop}")
        found[node] = rfc9162.root_of([bytes.fromhex(value) for value in values])
    return found


def _roots(
    session: Session, spans: Sequence[rfc9162.Span], also: Iterable[Node] = ()
) -> tuple[list[bytes], dict[Node, bytes]]:
    """The MTH of each span (RFC 9162 section 2.1.1) from its perfect subtrees, and ``also``."""
    pieces = [rfc9162.perfect_subtrees(start, end) for start, end in spans]
    nodes = read_nodes(session, [*also, *(node for piece in pieces for node in piece)])
    return [rfc9162.fold([nodes[node] for node in piece]) for piece in pieces], nodes


def inclusion_proof(session: Session, *, index: int, size: int) -> tuple[bytes, list[bytes]]:
    """The leaf hash of ``index`` and PATH(index, D[size]) of RFC 9162 section 2.1.3.1."""
    path, nodes = _roots(session, rfc9162.inclusion_spans(index, size), also=[(0, index)])
    return nodes[(0, index)], path


def consistency_proof(session: Session, *, old_size: int, size: int) -> list[bytes]:
    """PROOF(old_size, D[size]) of RFC 9162 section 2.1.4.1."""
    proof, _ = _roots(session, rfc9162.consistency_spans(old_size, size))
    return proof


def frontier(session: Session, size: int) -> rfc9162.Frontier:
    """The roots of the perfect subtrees that make up D[size] (RFC 9162 section 2.1.1).

    Those at stored levels are read as stored; the rest lie in the last,
    incomplete block and are computed from its leaves. Missing stored ones
    (a bulk-loaded trail) are filled in first; the caller holds the chain lock.
    """
    high = [(level, (size >> level) - 1) for level in _set_bits(size) if level >= STORED_FROM_LEVEL]
    start = size - size % BLOCK
    found, leaves = repository.proof_nodes(session, nodes=high, seqs=range(start + 1, size + 1))
    if len(found) != len(high):
        fill_in(session, size=size)
        found = repository.subtree_hashes(session, high)
    if len(leaves) != size - start:
        raise LookupError(f"the trail lacks events between {start + 1} and {size}")
    low = rfc9162.Frontier()
    for seq in range(start + 1, size + 1):
        low.append(bytes.fromhex(leaves[seq]))
    return rfc9162.Frontier(size, [*(bytes.fromhex(found[node]) for node in high), *low.hashes])


def _set_bits(size: int) -> list[int]:
    """The levels of ``size``'s perfect subtrees, largest first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def completed_nodes(size: int, completed: Sequence[bytes]) -> list[dict[str, object]]:
    """Rows of the stored-level roots ``Frontier.append_completed`` returned at tree ``size``."""
    return [
        {"level": level, "idx": (size >> level) - 1, "hash": completed[level].hex()}
        for level in range(STORED_FROM_LEVEL, len(completed))
    ]


def fill_in(session: Session, *, size: int) -> int:
    """Store every missing node of D[size] from the leaf hashes; returns how many were added.

    For a trail whose events were inserted behind the gateway's back (bulk
    loads, benchmarks): reads every leaf once. The caller holds the chain lock.
    """
    have = repository.stored_subtrees(session)
    tree = rfc9162.Frontier()
    rows: list[dict[str, object]] = []
    added = 0
    while tree.size < size:
        upto = min(tree.size + FILL_BATCH, size)
        values = repository.leaf_hashes(session, after=tree.size, upto=upto)
        if len(values) != upto - tree.size:
            raise LookupError(f"the trail lacks events between {tree.size + 1} and {upto}")
        for value in values:
            completed = tree.append_completed(bytes.fromhex(value))
            if tree.size % BLOCK == 0:
                rows.extend(
                    row
                    for row in completed_nodes(tree.size, completed)
                    if (row["level"], row["idx"]) not in have
                )
        repository.add_subtrees(session, rows)
        added += len(rows)
        rows = []
    if added:
        logger.warning("audit_subtrees_filled_in", nodes=added)
    return added


class GrowingTree:
    """The end of the chain while a batch is appended: head, unsigned leaves, their frontier.

    The frontier (RFC 9162 subtree roots) is read only when a stored subtree
    completes or a checkpoint is signed, so most single appends read nothing
    more than the chain's end; the roots of the completed subtrees are
    written with the batch (``store``), in the transaction that sequences it.
    ``oldest_known`` is the time of the first unsigned event when the caller
    knows it already (see ``AuditTrail._oldest``).
    """

    def __init__(
        self, session: Session, *, end: repository.ChainEnd, oldest_known: datetime | None
    ) -> None:
        self._session = session
        self.head_size = end.head.seq if end.head else 0
        self.size = self.head_size
        self.signed = end.signed
        self._oldest_known = oldest_known if self.signed < self.head_size else None
        self._frontier: rfc9162.Frontier | None = None
        self._unmerged: list[bytes] = []  # leaves of this batch not yet in the frontier
        self._times: list[datetime] = []  # occurred_at of this batch's events, in order
        self._nodes: list[dict[str, object]] = []  # completed subtrees to store

    @property
    def unsigned(self) -> int:
        return self.size - self.signed

    def add(self, leaf: bytes, occurred_at: datetime) -> None:
        self._unmerged.append(leaf)
        self._times.append(occurred_at)
        self.size += 1
        if self.size % BLOCK == 0:
            self._merge()

    def oldest_unsigned(self) -> datetime | None:
        if self.signed < self.head_size:
            if self._oldest_known is None:
                self._oldest_known = repository.occurred_at(self._session, self.signed + 1)
            return self._oldest_known
        index = self.signed - self.head_size
        return self._times[index] if index < len(self._times) else None

    def frontier_for_signing(self) -> rfc9162.Frontier:
        frontier = self._merge()
        self.signed = self.size
        return frontier

    def store(self) -> None:
        """Write the roots of the subtrees this batch completed (after its events)."""
        repository.add_subtrees(self._session, self._nodes)
        self._nodes = []

    def _merge(self) -> rfc9162.Frontier:
        if self._frontier is None:
            self._frontier = frontier(self._session, self.head_size)
        for leaf in self._unmerged:
            completed = self._frontier.append_completed(leaf)
            if self._frontier.size % BLOCK == 0:
                self._nodes.extend(completed_nodes(self._frontier.size, completed))
        self._unmerged.clear()
        return self._frontier
