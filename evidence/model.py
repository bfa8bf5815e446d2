"""Values the ledger hands out: frozen, slotted dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType

RunId = NewType("RunId", str)

#: Kinds scimtrail itself writes; other kinds are allowed (dotted lowercase names).
KNOWN_KINDS = (
    "scim.exchange",
    "run.started",
    "run.finished",
    "plan.recorded",
    "git.commit",
    "test.run",
    "deploy",
    "checkpoint",
    "erasure",
    "note",
    "report.generated",
)


@dataclass(frozen=True, slots=True)
class NewEntry:
    """What a caller asks to append. ``payload`` must be JSON-serialisable."""

    kind: str
    payload: Any
    actor: str
    run_id: str | None = None
    ref: int | None = None


@dataclass(frozen=True, slots=True)
class Once:
    """What :meth:`evidence.ledger.Ledger.append_once` did, in the order given."""

    appended: list[Appended]
    recorded: list[NewEntry]  # the entries appended, one per item of ``appended``
    skipped: list[NewEntry]  # already recorded (by this ledger or earlier in the batch)


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    ts: str
    link: str  # hex


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as read back: payload is None when erased."""

    seq: int
    ts: str
    kind: str
    actor: str
    run_id: str | None
    ref: int | None
    payload: Any
    payload_hash: str
    link: str
    erased_by: int | None

    @property
    def erased(self) -> bool:
        return self.erased_by is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "actor": self.actor,
            "run_id": self.run_id,
            "ref": self.ref,
            "payload": self.payload,
            "payload_hash": self.payload_hash,
            "link": self.link,
            "erased_by": self.erased_by,
        }


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    root: str  # hex
    link: str  # hex
