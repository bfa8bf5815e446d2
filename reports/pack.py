"""The audit pack's data: populations, timeliness, changes, tests and exceptions.

One streaming pass over the ledger (entries ``1..size`` of the checkpoint the pack
is built against) collects what the sections need; nothing here renders or signs.
Membership rules are pure functions (:func:`classify`) so that ``verify-pack`` can
recompute the populations from the ledger export embedded in the pack.

Definitions (docs/evidence-kinds.md):

* joiner — ``scim.exchange`` with ``operation == "create"``, ``resource_type == "User"``,
  ``outcome == "ok"``;
* mover — a successful User ``update`` (whose plan diff touches department, title or
  manager when the plan recorded a diff);
* leaver — a successful ``deactivate``; its lag runs from ``hr.effective_date`` to the
  entry's ``ts``, counted in business days of the configured calendar.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from evidence.chain import Row
from reports.frames import MOVER_FIELDS
from reports.periods import Period

ROW_LIMIT = 200  # body tables stop here; the attachment holds every row
TERMINATED = frozenset({"terminated", "terminate", "leaver", "inactive", "left"})
KINDS = (
    "scim.exchange", "run.started", "run.finished", "plan.recorded", "hr.rejected",
    "hr.event", "git.commit", "test.run", "deploy", "note", "reconcile.report", "compensation",
)  # fmt: skip

EVENT_COLUMNS = (
    "seq", "ts", "run_id", "operation", "external_id", "employee_id", "user_name", "scim_id",
    "status", "hr_effective_date",
)  # fmt: skip


def classify(kind: str, payload: Any) -> str | None:
    """The provisioning population an entry belongs to, or None."""
    if kind != "scim.exchange" or not isinstance(payload, dict):
        return None
    if payload.get("outcome") != "ok" or payload.get("resource_type") not in ("User", None):
        return None
    op = payload.get("operation")
    if op == "create" and payload.get("resource_type") == "User":
        return "joiners"
    if op == "update" and payload.get("resource_type") == "User":
        return "movers"
    if op == "deactivate":
        return "leavers"
    return None


def event_row(seq: int, ts: str, run_id: str | None, p: Mapping[str, Any]) -> tuple[Any, ...]:
    response = p.get("response") or {}
    hr = p.get("hr") or {}
    return (
        seq, ts, run_id or "", p.get("operation") or "", p.get("external_id") or "",
        p.get("employee_id") or "", _user_name(p), p.get("scim_id") or "",
        response.get("status") if isinstance(response, dict) else None,
        hr.get("effective_date") or "" if isinstance(hr, dict) else "",
    )  # fmt: skip


def body_of(part: Any) -> dict[str, Any]:
    """The JSON body of a recorded request or response (``body`` or ``body_text``)."""
    if not isinstance(part, dict):
        return {}
    body = part.get("body")
    if isinstance(body, dict):
        return body
    text = part.get("body_text")
    if isinstance(text, str) and text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _user_name(p: Mapping[str, Any]) -> str:
    return _attribute("userName", body_of(p.get("request")), body_of(p.get("response")))


def _attribute(name: str, *bodies: Mapping[str, Any]) -> str:
    """A string attribute from the first body that has one (request, then response)."""
    for body in bodies:
        value = body.get(name)
        if isinstance(value, str):
            return value
    return ""


def csv_bytes(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True, slots=True)
class Population:
    key: str
    title: str
    source: str
    query: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @property
    def attachment(self) -> str:
        return f"population-{self.key}.csv"

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def csv(self) -> bytes:
        return csv_bytes(self.columns, self.rows)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.csv).hexdigest()


@dataclass
class Scan:
    """Everything the sections need, gathered in one pass over the ledger."""

    period: Period
    size: int
    period_first_seq: int | None = None
    period_last_seq: int | None = None
    period_entries: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    events: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {"joiners": [], "movers": [], "leavers": []}
    )
    state: dict[str, tuple[bool, str, int]] = field(default_factory=dict)  # ext -> active, name
    display: dict[str, str] = field(default_factory=dict)  # ext -> last displayName written
    readback: dict[str, tuple[bool, int]] = field(default_factory=dict)
    plan_diffs: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    hr_terminations: dict[str, int] = field(default_factory=dict)  # ext -> seq
    deactivated: set[str] = field(default_factory=set)  # successful in the period
    rehired: dict[str, int] = field(default_factory=dict)  # ext -> reactivating seq
    commits: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    tests: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    runs_started: list[tuple[int, str, str | None, dict[str, Any]]] = field(default_factory=list)
    runs_finished: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    deploys: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    notes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    plan_of: dict[int, str] = field(default_factory=dict)  # update seq -> plan hash
    plan_seqs: dict[str, int] = field(default_factory=dict)  # plan hash -> plan.recorded seq
    exchanges: int = 0
    first_ts: str | None = None

    def feed(self, row: Row) -> None:
        """Take one stored row; entries after the period or the checkpoint are ignored."""
        seq, ts, kind = row.seq, row.ts, row.kind
        if seq > self.size or ts >= self.period.until:
            return
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        in_period = ts >= self.period.since
        if in_period:
            self.period_first_seq = self.period_first_seq or seq
            self.period_last_seq = seq
            self.period_entries += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind not in KINDS:
            return
        p = _decode(row.body)
        if not isinstance(p, dict):
            return
        if kind == "scim.exchange":
            _track_state(self, seq, p)
        if in_period:
            _collect(self, seq, ts, kind, row.run_id, p)


def _decode(body: bytes | None) -> Any:
    return None if body is None else orjson.loads(body)


def observe(rows: Iterable[Row], into: Scan) -> Iterator[Row]:
    """Pass rows through unchanged while :meth:`Scan.feed` looks at each one."""
    for row in rows:
        into.feed(row)
        yield row


def scan(rows: Iterable[Row], period: Period, size: int) -> Scan:
    """Scan stored rows ``1..size`` (from the ledger or an export) in seq order."""
    out = Scan(period, size)
    for row in rows:
        out.feed(row)
    return out


def _track_state(out: Scan, seq: int, p: dict[str, Any]) -> None:
    if p.get("outcome") != "ok" or p.get("resource_type") not in ("User", None):
        return
    ext = p.get("external_id")
    if not isinstance(ext, str) or not ext:
        return
    op = p.get("operation")
    sent, body = body_of(p.get("request")), body_of(p.get("response"))
    prev = out.state.get(ext)
    name = _attribute("userName", sent, body) or (prev[1] if prev else "")
    shown = _attribute("displayName", sent, body)
    if shown:
        out.display[ext] = shown
    if op in ("read", "lookup"):
        if isinstance(body, dict) and isinstance(body.get("active"), bool):
            out.readback[ext] = (bool(body["active"]), seq)
        return
    if op == "create" or op == "reactivate":
        active = not (isinstance(body, dict) and body.get("active") is False)
        out.state[ext] = (active, name, seq)
    elif op == "deactivate":
        out.state[ext] = (False, name, seq)
    elif op == "delete":
        out.state.pop(ext, None)
    elif op == "update" and prev is not None:
        given = body.get("active") if isinstance(body, dict) else None
        out.state[ext] = (given if isinstance(given, bool) else prev[0], name, seq)


def _collect(
    out: Scan, seq: int, ts: str, kind: str, run_id: str | None, p: dict[str, Any]
) -> None:
    if kind == "scim.exchange":
        out.exchanges += 1
        stratum = classify(kind, p)
        ext = str(p.get("external_id") or "")
        if p.get("outcome") == "ok" and ext:
            if p.get("operation") == "deactivate":
                out.deactivated.add(ext)
            elif p.get("operation") in ("reactivate", "create") and ext in out.deactivated:
                out.rehired[ext] = seq
        if stratum is not None:
            row = event_row(seq, ts, run_id, p)
            if not row[6] and ext in out.state:
                # a PATCH names nobody: take the name the account was last written with
                row = (*row[:6], out.state[ext][1], *row[7:])
            out.events[stratum].append(row)
            if stratum == "movers":
                out.plan_of[seq] = str(p.get("plan_hash") or "")
    elif kind == "plan.recorded":
        plan_hash = str(p.get("plan_hash") or "")
        out.plan_seqs.setdefault(plan_hash, seq)
        for ch in p.get("changes") or []:
            if not isinstance(ch, dict):
                continue
            ext = str(ch.get("external_id") or "")
            diff = ch.get("diff") or {}
            if ch.get("op") == "update" and isinstance(diff, dict | list):
                out.plan_diffs[(plan_hash, ext)] = [str(k) for k in diff]
            hr = ch.get("hr") if isinstance(ch.get("hr"), dict) else {}
            status = str((hr or {}).get("status") or "").lower()
            if ext and (ch.get("op") == "deactivate" or status in TERMINATED):
                out.hr_terminations.setdefault(ext, seq)
    elif kind == "hr.event" and p.get("type") == "terminate":
        ext = str(p.get("employee_id") or "")
        if ext:
            out.hr_terminations.setdefault(ext, seq)
    elif kind == "git.commit":
        out.commits.append((seq, p))
    elif kind == "test.run":
        out.tests.append((seq, ts, p))
    elif kind == "run.started":
        out.runs_started.append((seq, ts, run_id, p))
    elif kind == "run.finished":
        out.runs_finished.append((seq, ts, p))
    elif kind == "hr.rejected":
        out.rejected.append((seq, ts, p))
    elif kind == "deploy":
        out.deploys.append((seq, ts, p))
    elif kind == "note":
        out.notes.append((seq, p))


def _is_mover(scan_: Scan, row: tuple[Any, ...]) -> bool:
    diff = scan_.plan_diffs.get((scan_.plan_of.get(row[0], ""), row[4]))
    if diff is None:
        return True  # no diff recorded: every User update counts (stated in the pack)
    return bool(MOVER_FIELDS.intersection(diff))


def populations(s: Scan) -> list[Population]:
    """The six populations of the period, each with its query and rows."""
    rng = f"ts in [{s.period.since}, {s.period.until}) and seq <= {s.size}"
    movers = [r for r in s.events["movers"] if _is_mover(s, r)]
    active = sorted((ext, name, seq) for ext, (on, name, seq) in s.state.items() if on)
    commits = [
        (seq, p.get("sha", ""), p.get("author", ""), p.get("authored_at", ""),
         p.get("committed_at", ""), str(p.get("message", "")).splitlines()[0][:120]
         if p.get("message") else "")
        for seq, p in s.commits
    ]  # fmt: skip
    tests = [
        (seq, ts, p.get("commit", ""), p.get("suite", ""), p.get("tests", ""),
         p.get("failures", ""), p.get("errors", ""), p.get("passed", ""),
         p.get("junit_sha256", ""))
        for seq, ts, p in s.tests
    ]  # fmt: skip
    op_q = "kind = 'scim.exchange' and outcome = 'ok' and "
    return [
        Population("joiners", "Joiners (accounts created)", "ledger: scim.exchange",
                   op_q + f"operation = 'create' and resource_type = 'User' and {rng}",
                   EVENT_COLUMNS, tuple(s.events["joiners"])),
        Population("movers", "Movers (accounts modified)", "ledger: scim.exchange + plan.recorded",
                   op_q + "operation = 'update' and resource_type = 'User' and the plan diff "
                   f"touches {'/'.join(sorted(MOVER_FIELDS))} (or no diff recorded) and {rng}",
                   EVENT_COLUMNS, tuple(movers)),
        Population("leavers", "Leavers (accounts deactivated)", "ledger: scim.exchange",
                   op_q + f"operation = 'deactivate' and {rng}",
                   EVENT_COLUMNS, tuple(s.events["leavers"])),
        Population("active_accounts", "Active accounts at period end",
                   "ledger: replay of every successful User exchange up to period end",
                   "last successful create/update/deactivate/reactivate/delete per externalId, "
                   f"for entries with ts < {s.period.until} and seq <= {s.size}; active = true",
                   ("external_id", "user_name", "last_seq"), tuple(active)),
        Population("config_changes", "Configuration changes", "ledger: git.commit",
                   f"kind = 'git.commit' and {rng}",
                   ("seq", "sha", "author", "authored_at", "committed_at", "subject"),
                   tuple(commits)),
        Population("test_runs", "Test runs", "ledger: test.run",
                   f"kind = 'test.run' and {rng}",
                   ("seq", "ts", "commit", "suite", "tests", "failures", "errors", "passed",
                    "junit_sha256"), tuple(tests)),
    ]  # fmt: skip


__all__ = [
    "EVENT_COLUMNS",
    "ROW_LIMIT",
    "Population",
    "Scan",
    "classify",
    "csv_bytes",
    "observe",
    "populations",
    "scan",
]
