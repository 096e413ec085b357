"""Merkle tree hashing, inclusion and consistency proofs of RFC 9162 section 2.1.

https://www.rfc-editor.org/rfc/rfc9162#section-2.1 — leaf hash
``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, the
split point of a tree of ``n`` leaves is the largest power of two below ``n``.
Hashes are raw 32-byte digests here; the API shows them as lowercase hex.

``Frontier`` keeps only the roots of the perfect subtrees that make up a tree
(one per set bit of its size), so a tree can be extended and its root computed
in O(log n) memory, which is what lets verification stream millions of events.

Proofs are computed in two steps: ``inclusion_spans`` and ``consistency_spans``
name the subtrees whose roots a proof lists (sections 2.1.3.1 and 2.1.4.1),
``perfect_subtrees`` splits each into nodes of the whole tree, and ``fold``
joins their roots. The gateway reads those roots from storage
(``gateway.audit.subtrees``); ``inclusion_proof`` and ``consistency_proof``
compute them from every leaf, with the same recursion, for exports and tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class Frontier:
    """Roots of the perfect subtrees of a growing tree, largest (leftmost) first."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("frontier does not match tree size")
        self.size = size
        self._hashes = list(hashes)

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        self._hashes.append(leaf)
        # Merge equal-sized subtrees: the number of merges is the count of
        # trailing one bits of the old size.
        size = self.size
        while size & 1:
            right = self._hashes.pop()
            left = self._hashes.pop()
            self._hashes.append(node_hash(left, right))
            size >>= 1
        self.size += 1

    def append_completed(self, leaf: bytes) -> list[bytes]:
        """``append``, returning the roots of the perfect subtrees ``leaf`` completes.

        Item ``k`` is the root at level ``k`` (2**k leaves) that ends with this
        leaf; item 0 is the leaf itself. ``append`` stays separate: verification
        calls it millions of times and needs no list.
        """
        completed = [leaf]
        self._hashes.append(leaf)
        size = self.size
        while size & 1:
            right = self._hashes.pop()
            left = self._hashes.pop()
            completed.append(node_hash(left, right))
            self._hashes.append(completed[-1])
            size >>= 1
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result

    def copy(self) -> Frontier:
        return Frontier(self.size, self._hashes)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1 over leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


LeafRange = Callable[[int, int], bytes]
# Leaves ``start`` (inclusive) to ``end`` (exclusive) of the tree: the subtree D[start:end].
Span = tuple[int, int]
# A perfect subtree by its level (2**level leaves) and position: leaves
# ``index * 2**level`` to ``(index + 1) * 2**level``.
Node = tuple[int, int]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1 for leaf ``index`` in ``leaves``."""
    return [root_of(leaves[start:end]) for start, end in inclusion_spans(index, len(leaves))]


def inclusion_spans(index: int, size: int) -> list[Span]:
    """The subtrees whose roots make up PATH(index, D[size]), RFC 9162 section 2.1.3.1, in order."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    return _path(index, 0, size)


def _path(index: int, start: int, end: int) -> list[Span]:
    size = end - start
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path(index, start, start + k), (start + k, end)]
    return [*_path(index - k, start + k, end), (start, start + k)]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    return [root_of(leaves[start:end]) for start, end in consistency_spans(old_size, len(leaves))]


def consistency_spans(old_size: int, size: int) -> list[Span]:
    """The subtrees whose roots make up PROOF(old_size, D[size]), RFC 9162 section 2.1.4.1."""
    if not 0 < old_size <= size:
        raise ValueError("old tree size outside the tree")
    return _subproof(old_size, 0, size, complete=True)


def _subproof(m: int, start: int, end: int, *, complete: bool) -> list[Span]:
    size = end - start
    if m == size:
        return [] if complete else [(start, end)]
    k = _split(size)
    if m <= k:
        return [*_subproof(m, start, start + k, complete=complete), (start + k, end)]
    return [*_subproof(m - k, start + k, end, complete=False), (start, start + k)]


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose roots fold into MTH(D[start:end]), largest (leftmost) first.

    RFC 9162 section 2.1.1 splits ``n`` leaves at the largest power of two
    below ``n`` and recurses on the right part, so the pieces are the set bits
    of ``end - start``. Every subtree a proof names starts at a multiple of a
    power of two at least its size, so each piece is a node of the whole tree;
    any other span is refused.
    """
    nodes: list[Node] = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            if position % (1 << level):
                raise ValueError("span is not made of aligned perfect subtrees")
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def fold(roots: Sequence[bytes]) -> bytes:
    """MTH of a span from the roots of its ``perfect_subtrees``, in their order."""
    result = roots[-1]
    for left in reversed(roots[:-1]):
        result = node_hash(left, result)
    return result


def verify_inclusion(
    *, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """The verification algorithm of RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """The verification algorithm of RFC 9162 section 2.1.4.2."""
    if old_size == new_size:
        return old_root == new_root and not proof
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
