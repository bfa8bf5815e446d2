"""The values evidence rules produce: statuses, deciding rows, rule results.

Status from counts (:func:`status_from_counts`): no population → *not tested*; no
exception → *covered*; some → *partial*; all → *not covered*. Compositions:
:func:`combine_all` (``all_of``) is covered when every part is, not tested when every
part is, not covered when no part is covered or partial, partial otherwise;
:func:`combine_any` (``any_of``) takes the best part (covered > partial > not covered >
not tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_ROWS = 500  # deciding rows kept per check (exceptions first)
SAMPLES = 5  # passing rows kept as samples


class Status(StrEnum):
    covered = "covered"
    partial = "partial"
    not_covered = "not covered"
    not_tested = "not tested"


@dataclass(frozen=True, slots=True)
class Finding:
    """One deciding row: the entry (seq, kind, ts), its subject and what it showed."""

    seq: int | None
    kind: str
    ts: str | None
    subject: str
    outcome: str  # pass | exception | info
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "ts": self.ts,
            "subject": self.subject,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    check: str | None  # None for compositions
    status: Status
    reason: str
    population: int
    passed: int
    exceptions: int
    rows: tuple[Finding, ...]
    parts: tuple[RuleResult, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "check": self.check,
            "status": self.status.value,
            "reason": self.reason,
            "population": self.population,
            "passed": self.passed,
            "exceptions": self.exceptions,
            "rows": [r.as_dict() for r in self.rows],
            "parts": [p.as_dict() for p in self.parts],
        }


def status_from_counts(population: int, exceptions: int) -> Status:
    if population == 0:
        return Status.not_tested
    if exceptions == 0:
        return Status.covered
    if exceptions < population:
        return Status.partial
    return Status.not_covered


def combine_all(parts: list[Status]) -> Status:
    if all(p is Status.covered for p in parts):
        return Status.covered
    if all(p is Status.not_tested for p in parts):
        return Status.not_tested
    if not any(p in (Status.covered, Status.partial) for p in parts):
        return Status.not_covered
    return Status.partial


_BEST = [Status.covered, Status.partial, Status.not_covered, Status.not_tested]


def combine_any(parts: list[Status]) -> Status:
    return min(parts, key=_BEST.index)
