"""Ledger → pandas: the few columns the reports need, read in one streaming pass.

:func:`load_frames` reads through :mod:`evidence.query` (raw payload bytes, only the
kinds asked for, in batches), decodes each payload once and keeps only the fields
the reports use, so memory is bounded by the number of *provisioning events*, not
by payload size. Two queries:

* period kinds, ``since <= ts < until``: ``scim.exchange``, ``plan.recorded``,
  ``hr.event`` and the access-review sign-off kinds;
* history kinds, ``ts < until`` (their earlier history matters — a config version
  tested before the period, the latest reconcile): ``run.started``, ``run.finished``,
  ``test.run``, ``reconcile.report``, ``compensation``;
* dated kinds, whatever their ``ts``: ``git.commit`` and ``deploy`` carry their own
  dates (``committed_at``, ``deployed_at``) and are often collected after the fact.

Exchanges that change nothing (``read``, ``lookup``, ``token``) are only counted per run
(``exchange_counts``, for the completeness check); a change they made impossible shows
up as the change's own failure. Entries whose
payload was erased are counted (``erased``) and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evidence import query
from evidence.canonical import loads
from evidence.ledger import Ledger
from reports.periods import Period

PERIOD_KINDS = ("scim.exchange", "plan.recorded", "hr.event")
HISTORY_KINDS = (
    "run.started",
    "run.finished",
    "test.run",
    "reconcile.report",
    "compensation",
)
#: Kinds whose own payload dates them (``committed_at``, ``deployed_at``): a collector may
#: record a quarter's commits months later, so these are read whatever their ``ts``.
DATED_KINDS = ("git.commit", "deploy")
DEFAULT_REVIEW_KINDS = ("access_review.signoff", "note")
#: Exchanges that change nothing: counted per run (completeness), not kept.
PASSIVE_OPERATIONS = frozenset({"read", "lookup", "token"})
MOVER_FIELDS = frozenset(
    {"department", "title", "manager", "groups", "costCenter", "division", "organization"}
)  # compared on the last path segment: enterprise.department → department

EXCHANGE_COLUMNS = [
    "seq",
    "ts",
    "run_id",
    "operation",
    "resource_type",
    "external_id",
    "employee_id",
    "outcome",
    "attempt",
    "effective_date",
    "hr_status",
    "plan_hash",
    "error",
    "compensation",
]


@dataclass(slots=True)
class Frames:
    """What one period of the ledger says, as small tables. Built by :func:`load_frames`."""

    period: Period
    exchanges: pd.DataFrame
    runs: pd.DataFrame
    finished: pd.DataFrame
    tests: pd.DataFrame
    commits: pd.DataFrame
    deploys: pd.DataFrame
    terminations: pd.DataFrame
    reconciles: list[dict[str, Any]]
    compensations: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    plan_diffs: dict[tuple[str, str], frozenset[str]]
    exchange_counts: dict[str | None, int] = field(default_factory=dict)  # per run, all ops
    erased: int = 0
    rows_read: int = 0
    cache: dict[str, Any] = field(default_factory=dict)


def load_frames(
    ledger: Ledger,
    period: Period,
    *,
    review_kinds: Iterable[str] = DEFAULT_REVIEW_KINDS,
    batch: int = 20000,
) -> Frames:
    """Read the ledger once for ``period`` and return the report tables."""
    review_kinds = tuple(review_kinds)
    acc = _Accumulator(set(review_kinds))
    for part in query.stream(
        ledger, (*PERIOD_KINDS, *review_kinds), since=period.since, until=period.until, batch=batch
    ):
        acc.period_batch(part)
    for part in query.stream(ledger, HISTORY_KINDS, until=period.until, batch=batch):
        acc.history_batch(part)
    for part in query.stream(ledger, DATED_KINDS, batch=batch):
        acc.history_batch(part)
    return acc.finish(period)


class _Accumulator:
    def __init__(self, review_kinds: set[str]) -> None:
        self.review_kinds = review_kinds
        self.x_rows: list[tuple[Any, ...]] = []
        self.exchange_counts: dict[str | None, int] = {}
        self.runs: list[dict[str, Any]] = []
        self.finished: list[dict[str, Any]] = []
        self.tests: list[dict[str, Any]] = []
        self.commits: list[dict[str, Any]] = []
        self.deploys: list[dict[str, Any]] = []
        self.terms: list[dict[str, Any]] = []
        self.reconciles: list[dict[str, Any]] = []
        self.compensations: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.plan_diffs: dict[tuple[str, str], frozenset[str]] = {}
        self.erased = 0
        self.rows = 0
        self._intern: dict[Any, Any] = {}

    def period_batch(self, part: list[query.RawRow]) -> None:
        self.rows += len(part)
        rows = self.x_rows
        counts = self.exchange_counts
        intern = self._intern.setdefault  # a C call: no Python frame per value
        for seq, ts, kind, actor, run_id, body in part:
            if body is None:
                self.erased += 1
                continue
            p = loads(body)
            if kind == "scim.exchange":
                op = p.get("operation")
                outcome = p.get("outcome")
                counts[run_id] = counts.get(run_id, 0) + 1
                if op in PASSIVE_OPERATIONS:
                    continue  # reads, lookups, token requests: counted per run, not kept
                hr = p.get("hr")
                plan = p.get("plan_hash") if op == "update" else None
                err = None
                if outcome == "failed":
                    resp = p.get("response") or {}
                    err = resp.get("error") or (
                        f"HTTP {resp['status']}" if resp.get("status") else "failed"
                    )
                    err = str(err)[:200]
                rows.append(
                    (
                        seq,
                        ts,
                        intern(run_id, run_id),
                        op,  # categories below: repeated strings cost nothing for long
                        p.get("resource_type"),
                        p.get("external_id"),
                        p.get("employee_id"),
                        outcome,
                        p.get("attempt") or 1,
                        hr.get("effective_date") if hr else None,
                        hr.get("status") if hr else None,
                        intern(plan, plan),
                        err,
                        p.get("compensation") is True,
                    )
                )
            elif kind == "plan.recorded":
                self._plan(seq, ts, p)
            elif (
                kind == "hr.event"
                and p.get("type") == "terminate"
                and p.get("accepted", True) is not False
                and p.get("signature_ok", True) is not False
            ):
                rec = p.get("record") or {}
                self.terms.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "source": "hr.event",
                        "external_id": rec.get("external_id") or p.get("employee_id"),
                        "employee_id": p.get("employee_id"),
                        "effective_date": rec.get("effective_date") or rec.get("termination_date"),
                    }
                )
            if kind in self.review_kinds:
                self.reviews.append(
                    {"seq": seq, "ts": ts, "kind": kind, "actor": actor, "payload": p}
                )

    def _plan(self, seq: int, ts: str, p: dict[str, Any]) -> None:
        plan_hash = p.get("plan_hash")
        for ch in p.get("changes") or []:
            op = ch.get("op")
            ext = ch.get("external_id")
            if op == "update" and plan_hash and ext:
                diff = ch.get("diff") or {}
                keys = diff.keys() if isinstance(diff, dict) else [str(d) for d in diff]
                self.plan_diffs[(plan_hash, ext)] = frozenset(keys)
            elif op in ("deactivate", "delete"):
                hr = ch.get("hr") or {}
                self.terms.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "source": "plan.recorded",
                        "external_id": ext,
                        "employee_id": ch.get("employee_id"),
                        "effective_date": hr.get("effective_date"),
                    }
                )

    def history_batch(self, part: list[query.RawRow]) -> None:
        self.rows += len(part)
        for seq, ts, kind, _actor, run_id, body in part:
            if body is None:
                self.erased += 1
                continue
            p = loads(body)
            if kind == "run.started":
                mapping = p.get("mapping") or {}
                self.runs.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "run_id": p.get("run_id") or run_id,
                        "mode": p.get("mode"),
                        "git_commit": mapping.get("git_commit"),
                        "git_dirty": bool(mapping.get("git_dirty")),
                        "mapping_sha256": mapping.get("sha256"),
                        "auth_method": (p.get("auth") or {}).get("method"),
                        "target_url": (p.get("target") or {}).get("url"),
                    }
                )
            elif kind == "run.finished":
                counts = p.get("counts") or {}
                self.finished.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "run_id": p.get("run_id") or run_id,
                        "ok": bool(p.get("ok")),
                        "requests": counts.get("requests"),
                        "failed": counts.get("failed") or 0,
                    }
                )
            elif kind == "test.run":
                self.tests.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "commit": p.get("commit"),
                        "suite": p.get("suite"),
                        "passed": bool(p.get("passed")),
                        "dirty": bool(p.get("dirty")),
                        "tests": p.get("tests") or 0,
                        "failures": p.get("failures") or 0,
                        "errors": p.get("errors") or 0,
                        "source": p.get("source"),
                    }
                )
            elif kind == "git.commit":
                self.commits.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "sha": p.get("sha"),
                        "repo": p.get("repo"),
                        "author": p.get("author"),
                        "author_email": p.get("author_email"),
                        "committed_at": p.get("committed_at"),
                        "subject": str(p.get("message") or "").splitlines()[0:1] or [""],
                        "files": p.get("files") or [],
                        "merge": bool(p.get("merge")),
                        "approvals": p.get("approvals") or [],
                        "merged_commits": p.get("merged_commits") or [],
                        "pull_request": p.get("pull_request"),
                        "signature": (p.get("signature") or {}).get("status"),
                    }
                )
                self.commits[-1]["subject"] = self.commits[-1]["subject"][0]
            elif kind == "deploy":
                self.deploys.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "env": p.get("env"),
                        "commit": p.get("commit"),
                        "job_url": p.get("job_url"),
                        "deployed_at": p.get("deployed_at") or ts,
                    }
                )
            elif kind == "reconcile.report":
                self.reconciles.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "target": p.get("target"),
                        "orphans": p.get("orphans") or [],
                        "counts": p.get("counts") or {},
                    }
                )
            elif kind == "compensation":
                self.compensations.append(
                    {
                        "seq": seq,
                        "ts": ts,
                        "run_id": p.get("run_id") or run_id,
                        "policy": p.get("policy"),
                        "actions": p.get("actions") or [],
                    }
                )

    def finish(self, period: Period) -> Frames:
        ex = pd.DataFrame(self.x_rows, columns=EXCHANGE_COLUMNS, dtype=object)
        ex["seq"] = ex["seq"].astype("int64")
        ex["attempt"] = ex["attempt"].astype("int64")
        ex["compensation"] = ex["compensation"].astype(bool)
        for col in ("operation", "resource_type", "outcome", "hr_status"):
            ex[col] = ex[col].astype("category")
        _mark_compensations(ex, self.compensations)
        self.x_rows = []
        return Frames(
            period=period,
            exchanges=ex,
            runs=_frame(
                self.runs,
                [
                    "seq",
                    "ts",
                    "run_id",
                    "mode",
                    "git_commit",
                    "git_dirty",
                    "mapping_sha256",
                    "auth_method",
                    "target_url",
                ],
            ),
            finished=_frame(self.finished, ["seq", "ts", "run_id", "ok", "requests", "failed"]),
            tests=_frame(
                self.tests,
                [
                    "seq",
                    "ts",
                    "commit",
                    "suite",
                    "passed",
                    "dirty",
                    "tests",
                    "failures",
                    "errors",
                    "source",
                ],
            ),
            commits=_frame(
                self.commits,
                [
                    "seq",
                    "ts",
                    "sha",
                    "repo",
                    "author",
                    "author_email",
                    "committed_at",
                    "subject",
                    "files",
                    "merge",
                    "approvals",
                    "merged_commits",
                    "pull_request",
                    "signature",
                ],
            ),
            deploys=_frame(self.deploys, ["seq", "ts", "env", "commit", "job_url", "deployed_at"]),
            terminations=_frame(
                self.terms, ["seq", "ts", "source", "external_id", "employee_id", "effective_date"]
            ),
            reconciles=self.reconciles,
            compensations=self.compensations,
            reviews=self.reviews,
            plan_diffs=self.plan_diffs,
            exchange_counts=self.exchange_counts,
            erased=self.erased,
            rows_read=self.rows,
        )


def _mark_compensations(ex: pd.DataFrame, compensations: list[dict[str, Any]]) -> None:
    """Flag the exchanges a ``compensation`` entry lists as its actions (same run, op, id)."""
    keys = {
        (c["run_id"], str(a.get("operation")), str(a.get("external_id")))
        for c in compensations
        for a in c["actions"]
        if isinstance(a, dict)
    }
    if not keys or ex.empty:
        return
    runs = {k[0] for k in keys}
    cand = ex[ex["run_id"].isin(runs)]
    hit = [
        i
        for i, r, o, e in zip(
            cand.index,
            cand["run_id"],
            cand["operation"].astype(str),
            cand["external_id"],
            strict=True,
        )
        if (r, o, str(e)) in keys
    ]
    ex.loc[hit, "compensation"] = True


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    # object dtype keeps None as None (pandas would otherwise infer str columns with NaN)
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    df["seq"] = df["seq"].astype("int64")
    for col in ("passed", "dirty", "ok", "git_dirty", "merge"):
        if col in df:
            df[col] = df[col].astype(bool)
    return df


def scan_floor(ledger: Ledger, period: Period, *, batch: int = 20000) -> int:
    """The benchmark floor: read the same rows and decode their JSON, nothing else."""
    n = 0
    for kinds, since, until in (
        ((*PERIOD_KINDS, *DEFAULT_REVIEW_KINDS), period.since, period.until),
        (HISTORY_KINDS, None, period.until),
        (DATED_KINDS, None, None),
    ):
        for part in query.stream(ledger, kinds, since=since, until=until, batch=batch):
            for row in part:
                if row[5] is not None:
                    loads(row[5])
                n += 1
    return n
