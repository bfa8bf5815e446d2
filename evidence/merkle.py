"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Pure functions over 32-byte SHA-256 hashes; no I/O. Leaves are hashed by the
caller with :func:`leaf_hash` (``SHA-256(0x00 || data)``); interior nodes are
``SHA-256(0x01 || left || right)``. A tree of ``n`` leaves splits at the largest
power of two smaller than ``n``.

:class:`Frontier` is the compact range ``[0, n)``: the roots of the perfect
subtrees that make up the first ``n`` leaves, largest first. Appending a leaf
costs O(1) amortised and reports every perfect subtree it completes, which is
how the ledger stores nodes for fast proofs.

Proof generation takes a ``subtree(start, end)`` callback returning the hash of
leaves ``[start, end)``; the ledger answers it from stored nodes and leaves.
Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and checks every step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from evidence.errors import ProofInvalid

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """Roots of the perfect subtrees covering leaves [0, size), largest first."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ValueError("frontier does not match its size")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect subtrees completed as (level, index, hash)."""
        completed: list[tuple[int, int, bytes]] = []
        nodes = self.nodes
        node = leaf
        index = self.size
        level = 0
        while index & 1:
            node = node_hash(nodes.pop(), node)
            index >>= 1
            level += 1
            completed.append((level, index, node))
        nodes.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = node_hash(node, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.nodes))

    def to_bytes(self) -> bytes:
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        return cls(size, [data[i : i + 32] for i in range(0, len(data), 32)])


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (reference implementation, O(n))."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


Subtree = Callable[[int, int], bytes]


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[0:n]) with m = index."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_path(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[0:n])."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to {new}")
    if old == new:
        return []
    path: list[bytes] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                path.append(subtree(start, end))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    path.reverse()
    return path


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises ProofInvalid unless every step checks out."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if len(p) != 32:
            raise ProofInvalid("a proof hash is not 32 bytes")
        if sn == 0:
            raise ProofInvalid("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofInvalid(f"leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofInvalid unless every step checks out."""
    if not 0 < old <= new:
        raise ProofInvalid(f"no consistency between sizes {old} and {new}")
    if old == new:
        if path:
            raise ProofInvalid("proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofInvalid("two different roots for the same size: the log forked")
        return
    proof = list(path)
    if any(len(p) != 32 for p in proof):
        raise ProofInvalid("a proof hash is not 32 bytes")
    if old & (old - 1) == 0:  # exact power of two: the old root is the first node
        proof.insert(0, old_root)
    if not proof:
        raise ProofInvalid("consistency proof is empty")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofInvalid("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofInvalid(f"the proof does not reproduce the old root of size {old}")
    if sr != new_root:
        raise ProofInvalid(f"the proof does not reproduce the new root of size {new}")
