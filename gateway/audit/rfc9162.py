"""Merkle tree hashing, inclusion and consistency proofs of RFC 9162 section 2.1.

https://www.rfc-editor.org/rfc/rfc9162#section-2.1 — leaf hash
``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``, the
split point of a tree of ``n`` leaves is the largest power of two below ``n``.
Hashes are raw 32-byte digests here; the API shows them as lowercase hex.

``Frontier`` keeps only the roots of the perfect subtrees that make up a tree
(one per set bit of its size), so a tree can be extended and its root computed
in O(log n) memory, which is what lets verification stream millions of events.
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


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    return root_of(leaves[start:end])


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1 for leaf ``index`` in ``leaves``."""
    size = len(leaves)
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    return _path(index, leaves, 0, size)


def _path(index: int, leaves: Sequence[bytes], start: int, end: int) -> list[bytes]:
    size = end - start
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path(index, leaves, start, start + k), _subtree_root(leaves, start + k, end)]
    return [*_path(index - k, leaves, start + k, end), _subtree_root(leaves, start, start + k)]


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    if not 0 < old_size <= len(leaves):
        raise ValueError("old tree size outside the tree")
    return _subproof(old_size, leaves, 0, len(leaves), complete=True)


def _subproof(
    m: int, leaves: Sequence[bytes], start: int, end: int, *, complete: bool
) -> list[bytes]:
    size = end - start
    if m == size:
        return [] if complete else [_subtree_root(leaves, start, end)]
    k = _split(size)
    if m <= k:
        return [
            *_subproof(m, leaves, start, start + k, complete=complete),
            _subtree_root(leaves, start + k, end),
        ]
    return [
        *_subproof(m - k, leaves, start + k, end, complete=False),
        _subtree_root(leaves, start, start + k),
    ]


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
