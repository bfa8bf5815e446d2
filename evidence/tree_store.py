"""Merkle subtree hashes read from the database, for O(log n) proofs.

The append path stores the hash of every perfect subtree of at least
``2**NODE_LEVEL`` leaves (``ledger_nodes``); smaller subtrees are recomputed from
the stored leaf hashes (at most ``2**NODE_LEVEL`` per subtree), so a proof at a
million entries reads a few hundred rows instead of a million.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from evidence.errors import Fault, LedgerTampered
from evidence.merkle import node_hash

NODE_LEVEL = 6  # store Merkle nodes of subtrees with >= 64 leaves


def subtree(conn: Connection, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) (0-based leaf indexes; seq = index + 1)."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        if level >= NODE_LEVEL:
            found = conn.execute(
                text("SELECT hash FROM ledger_nodes WHERE level = :l AND idx = :i"),
                {"l": level, "i": start >> level},
            ).scalar()
            if found is not None:
                return bytes(found)
        leaves = [
            bytes(r[0])
            for r in conn.execute(
                text("SELECT leaf FROM ledger_entries WHERE seq > :a AND seq <= :b ORDER BY seq"),
                {"a": start, "b": end},
            )
        ]
        if len(leaves) != n:
            raise LedgerTampered(start + len(leaves) + 1, Fault.ENTRY_MISSING, "leaf missing")
        while len(leaves) > 1:
            leaves = [node_hash(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(subtree(conn, start, start + k), subtree(conn, start + k, end))
