"""Entry hashing and the streaming chain verifier (pure, no I/O).

Hash inputs, all SHA-256, each with its own one-byte domain prefix:

* payload commitment ``SHA-256(0x03 || salt || canonical(payload))``
* entry bytes ``canonical({"v":1,"seq","ts","kind","actor","run","ref","payload"})``
* leaf ``SHA-256(0x00 || entry)`` (RFC 6962 leaf)
* link ``SHA-256(0x02 || previous link || leaf)``, the previous link of seq 1
  being 32 zero bytes.

:class:`ChainVerifier` consumes stored rows in seq order, keeps O(log n) state
(link, Merkle frontier, pending erasures) and raises :class:`LedgerTampered`
naming the first bad seq and the kind of fault. docs/ledger-format.md is the
normative description; keep the two in step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from evidence.canonical import canonical_bytes
from evidence.errors import CheckpointMismatch, Fault, LedgerTampered
from evidence.merkle import Frontier, leaf_hash

FORMAT_VERSION = 1
GENESIS = bytes(32)
_MAX_SAFE = 2**53 - 1
_sha256 = hashlib.sha256


def payload_commitment(salt: bytes, body: bytes) -> bytes:
    return _sha256(b"\x03" + salt + body).digest()


def link_hash(prev: bytes, leaf: bytes) -> bytes:
    return _sha256(b"\x02" + prev + leaf).digest()


def entry_bytes(
    seq: int,
    ts: str,
    kind: str,
    actor: str,
    run_id: str | None,
    ref: int | None,
    payload_hash: bytes,
) -> bytes:
    """The canonical envelope that the leaf hash covers."""
    envelope = {
        "v": FORMAT_VERSION,
        "seq": seq,
        "ts": ts,
        "kind": kind,
        "actor": actor,
        "run": run_id,
        "ref": ref,
        "payload": payload_hash.hex(),
    }
    # Fixed ASCII keys, strings, small ints and null: orjson's sorted output is JCS.
    if (
        type(seq) is int
        and seq <= _MAX_SAFE
        and (ref is None or (type(ref) is int and ref <= _MAX_SAFE))
    ):
        try:
            return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            pass
    return canonical_bytes(envelope)


class Row(NamedTuple):
    """One stored entry, as the database (or an export) holds it."""

    seq: int
    ts: str
    kind: str
    actor: str
    run_id: str | None
    ref: int | None
    payload_hash: bytes
    entry: bytes
    leaf: bytes
    prev: bytes
    link: bytes
    salt: bytes | None
    body: bytes | None
    erased_by: int | None


ROW_COLUMNS = Row._fields


@dataclass(frozen=True, slots=True)
class ExpectedRoot:
    """A root the ledger must have had at ``size`` (from a checkpoint)."""

    size: int
    root: bytes
    source: str


@dataclass(slots=True)
class VerifyResult:
    size: int
    head_link: bytes
    root: bytes
    erased: int
    checkpoints_checked: int
    checked_roots: list[ExpectedRoot] = field(default_factory=list)

    @property
    def head_hex(self) -> str:
        return self.head_link.hex()


def _claimed_seq(entry: bytes) -> int | None:
    try:
        value = orjson.loads(entry).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) else None


class ChainVerifier:
    """Checks rows one by one; call :meth:`run` with an iterable in seq order."""

    def __init__(
        self,
        expected_roots: Iterable[ExpectedRoot] = (),
        *,
        start: int = 1,
        prev_link: bytes = GENESIS,
        frontier: Frontier | None = None,
        checkpoint_check: Any = None,
    ) -> None:
        self.expected = sorted(expected_roots, key=lambda e: e.size)
        self.next_seq = start
        self.link = prev_link
        self.frontier = frontier or Frontier()
        self.pending_erasures: dict[int, tuple[int, bytes]] = {}
        self.erased = 0
        self.checkpoints = 0
        self.checked: list[ExpectedRoot] = []
        self._checkpoint_check = checkpoint_check

    def _fault(self, seq: int, fault: Fault, detail: str) -> LedgerTampered:
        return LedgerTampered(seq, fault, detail)

    def _check_expected(self) -> None:
        size = self.frontier.size
        while self.expected and self.expected[0].size <= size:
            exp = self.expected.pop(0)
            if exp.size == size:
                if self.frontier.root() != exp.root:
                    raise CheckpointMismatch(
                        Fault.REWRITTEN,
                        f"the first {size} entries no longer hash to the root in {exp.source}",
                        seq=size,
                    )
                self.checked.append(exp)
            # sizes below the start of a partial export cannot be checked here

    def run(self, rows: Iterable[Row]) -> VerifyResult:
        self._check_expected()
        it = iter(rows)
        check = self.check
        for row in it:
            check(row, it)
        return self.finish()

    def _diagnose(self, row: Row, nxt: Row | None) -> None:
        """The slow path: find which rule a row breaks, in a fixed order, and raise."""
        seq = row.seq
        expected = self.next_seq
        if seq != expected:
            if seq > expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                raise self._fault(expected, Fault.ENTRY_MISSING, f"no entry with seq {missing}")
            raise self._fault(seq, Fault.REORDERED, f"seq {seq} appears again after {expected - 1}")
        entry = row.entry
        claimed = _claimed_seq(entry)
        if claimed is None:
            raise self._fault(seq, Fault.ENTRY_CHANGED, "stored entry is not a valid JSON envelope")
        if claimed != seq:
            if claimed > seq and nxt is not None and _claimed_seq(nxt.entry) == seq:
                raise self._fault(
                    seq,
                    Fault.REORDERED,
                    f"entries {claimed} and {seq} are stored in each other's place",
                )
            if claimed < seq:
                raise self._fault(
                    seq, Fault.INSERTED, f"the entry written as seq {claimed} now sits at seq {seq}"
                )
            raise self._fault(
                seq,
                Fault.ENTRY_MISSING,
                f"the entry written as seq {claimed} now sits at seq {seq}",
            )
        if row.prev != self.link:
            if nxt is not None and nxt.prev == self.link:
                raise self._fault(
                    seq,
                    Fault.INSERTED,
                    f"seq {seq} is not chained to seq {seq - 1}, but seq "
                    f"{seq + 1} is: seq {seq} was inserted",
                )
            if seq == 1:
                raise self._fault(
                    seq, Fault.ENTRY_CHANGED, "the first entry does not start from genesis"
                )
            raise self._fault(
                seq - 1,
                Fault.ENTRY_CHANGED,
                f"seq {seq} was chained to a different seq {seq - 1}: it was rewritten",
            )
        leaf = leaf_hash(entry)
        if leaf != row.leaf:
            raise self._fault(seq, Fault.ENTRY_CHANGED, "entry bytes do not match their leaf hash")
        expected_env = entry_bytes(
            seq, row.ts, row.kind, row.actor, row.run_id, row.ref, row.payload_hash
        )
        if expected_env != entry:
            raise self._fault(
                seq,
                Fault.ENTRY_CHANGED,
                "a stored column (ts, kind, actor, run, ref or payload hash) differs from the "
                "hashed entry",
            )
        raise self._fault(seq, Fault.ENTRY_CHANGED, "the entry does not verify")

    def check(self, row: Row, rest: Iterator[Row]) -> None:
        """Check one row; ``rest`` yields the rows after it (read only to name a fault)."""
        seq, ts, kind, actor, run_id, ref, phash, entry, stored_leaf, prev, link, salt, body, _ = (
            row
        )
        leaf = leaf_hash(entry)
        if not (
            seq == self.next_seq
            and prev == self.link
            and leaf == stored_leaf
            and entry == entry_bytes(seq, ts, kind, actor, run_id, ref, phash)
        ):
            self._diagnose(row, next(rest, None))  # raises, naming the fault
        if link_hash(prev, leaf) != link:
            raise self._fault(seq, Fault.ENTRY_CHANGED, "stored link does not match its inputs")
        if body is None:
            if row.erased_by is None or row.erased_by <= seq:
                raise self._fault(seq, Fault.PAYLOAD_MISSING, "the payload is gone")
            self.pending_erasures[seq] = (row.erased_by, phash)
            self.erased += 1
        elif salt is None or payload_commitment(salt, body) != phash:
            raise self._fault(seq, Fault.PAYLOAD_CHANGED, "payload does not match its commitment")
        if kind == "erasure" and ref is not None:
            pending = self.pending_erasures.pop(ref, None)
            if pending is not None:
                self._check_erasure(row, *pending)
        if kind == "checkpoint" and body is not None and self._checkpoint_check is not None:
            self._checkpoint_check(row, self)  # sees the tree of the entries before it
            self.checkpoints += 1
        self.link = link
        self.frontier.append(leaf)
        self.next_seq = seq + 1
        if self.expected:
            self._check_expected()

    def _check_erasure(self, row: Row, erased_by: int, erased_hash: bytes) -> None:
        """An erasure entry must be the one the erased row cites, and name it exactly."""
        if erased_by != row.seq:
            raise self._fault(
                row.ref or 0,
                Fault.PAYLOAD_MISSING,
                f"erasure recorded at {erased_by}, not {row.seq}",
            )
        if row.body is None:
            return
        try:
            data = orjson.loads(row.body)
            named = (data["erased_seq"], data["payload_hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise self._fault(row.seq, Fault.MALFORMED, "erasure entry is unreadable") from exc
        if named != (row.ref, erased_hash.hex()):
            raise self._fault(
                row.seq, Fault.MALFORMED, f"erasure entry does not name entry {row.ref} exactly"
            )

    def finish(self) -> VerifyResult:
        if self.pending_erasures:
            seq = min(self.pending_erasures)
            raise self._fault(
                seq,
                Fault.PAYLOAD_MISSING,
                f"payload cleared citing erasure seq {self.pending_erasures[seq][0]}, "
                "but no such erasure entry names it",
            )
        if self.expected:
            exp = self.expected[0]
            raise CheckpointMismatch(
                Fault.TRUNCATED,
                f"{exp.source} covers {exp.size} entries but the ledger ends at "
                f"{self.frontier.size}",
                seq=self.frontier.size + 1,
            )
        return VerifyResult(
            size=self.frontier.size,
            head_link=self.link,
            root=self.frontier.root(),
            erased=self.erased,
            checkpoints_checked=self.checkpoints,
            checked_roots=self.checked,
        )
