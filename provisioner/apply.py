"""Plan and apply runs: read the target, plan, check the guards, execute, compensate, record.

The library entry points (the CLI and ``make demo`` call these):

* :func:`plan_run` — read HR and the target, build and record a plan (no writes);
* :func:`apply_run` — execute a fresh plan, or exactly a reviewed plan file;
* :func:`approve` — record an approval of a plan's hash.

The changes themselves are executed by :mod:`provisioner.executor`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner import state as syncstate
from provisioner.config import Target
from provisioner.context import (
    Failure,
    Progress,
    RunContext,
    RunResult,
    default_actor,
    git_info,
    utc_now,
    version,
)
from provisioner.errors import (
    ApprovalRequired,
    EvidenceUnavailable,
    InvalidRows,
    MassDeprovision,
    PlanError,
    PlanStale,
)
from provisioner.executor import Executor, notify
from provisioner.plan import OPS, Change, Options, Plan, TargetState, build
from provisioner.scim import (
    Recorder,
    ScimClient,
)
from provisioner.sources import Source

__all__ = [
    "Progress",
    "RunContext",
    "RunResult",
    "apply_run",
    "approve",
    "default_actor",
    "load_plan",
    "plan_run",
    "read_target",
    "refuse_invalid",
]


# -- reading the target ---------------------------------------------------------------
def read_target(
    client: ScimClient, m: mp.MappingFile, only: Iterable[str] | None = None
) -> TargetState:
    """The target's users and groups (everything, or only the named people)."""
    state = TargetState(m.managed_paths)
    if only is None:
        for res in client.iter_resources(
            "Users", ctx={"operation": "read", "resource_type": "User"}
        ):
            state.add_user(res)
        state.total = len(state.users)
    else:
        state.complete = False

        def lookup(ext: str) -> list[dict[str, Any]]:
            ctx = {"operation": "lookup", "resource_type": "User", "external_id": ext}
            return client.find("Users", "externalId", ext, ctx)

        people = sorted(only)
        workers = max(1, min(client.target.concurrency, len(people)))
        with ThreadPoolExecutor(workers, thread_name_prefix="scimtrail-read") as pool:
            for found in pool.map(lookup, people):  # in order: the state is deterministic
                for res in found:
                    state.add_user(res)
    for res in client.iter_resources("Groups", ctx={"operation": "read", "resource_type": "Group"}):
        state.add_group(res)
    return state


class _Run:
    """One run's open resources: recorder, client; closed in ``finish``."""

    def __init__(self, rc: RunContext, source: Source | None, plan_hash: str | None = None) -> None:
        self.rc = rc
        self.t0 = time.perf_counter()
        t = rc.target
        self.credential = t.credential()  # before any entry: a missing secret records nothing
        self.recorder = Recorder(
            rc.ledger,
            rc.actor,
            rc.run_id,
            flush_every=t.evidence_flush_every,
            flush_ms=t.evidence_flush_ms,
        )
        started = {
            "run_id": rc.run_id,
            "mode": rc.mode,
            "target": {"name": t.name, "url": t.url},
            "source": source.describe() if source else None,
            "mapping": {"path": rc.mapping.path, "sha256": rc.mapping.sha256}
            | git_info(rc.mapping.path),
            "plan_hash": plan_hash,
            "auth": self.credential.describe(),
            "scimtrail_version": version(),
        }
        try:
            self.recorder.append("run.started", started)
        except BaseException:
            self.recorder.close()
            raise
        try:
            if source is not None:
                for rej in source.rejected:
                    self.recorder.add("hr.rejected", rej.as_dict())
                self.recorder.flush()
            self.client = ScimClient(
                t,
                self.credential,
                self.recorder,
                transport=rc.transport,
                clock=rc.clock,
                plan_hash=plan_hash,
            )
        except BaseException as exc:  # e.g. a pinned certificate that does not match
            try:
                self.recorder.append(
                    "run.finished",
                    {
                        "run_id": rc.run_id,
                        "ok": False,
                        "counts": {},
                        "failures": [],
                        "duration_s": round(time.perf_counter() - self.t0, 3),
                        "error": getattr(exc, "message", type(exc).__name__),
                    },
                )
            finally:
                self.recorder.close()
            raise

    def finish(self, result: RunResult | None, error: BaseException | None = None) -> None:
        try:
            self.client.close()
        finally:
            with contextlib.suppress(EvidenceUnavailable):
                self.recorder.flush()
            payload: dict[str, Any]
            if result is not None:
                result.duration_s = round(time.perf_counter() - self.t0, 3)
                result.requests = self.recorder.requests
                result.retries = self.recorder.retries
                payload = {
                    "run_id": self.rc.run_id,
                    "ok": result.ok and error is None,
                    "counts": result.counts
                    | {
                        "failed": len(result.failures),
                        "retries": result.retries,
                        "requests": result.requests,
                        "skipped": result.skipped,
                    },
                    "failures": [f.as_dict() for f in result.failures],
                    "duration_s": result.duration_s,
                    "plan_hash": result.plan.plan_hash or None,
                }
            else:
                payload = {
                    "run_id": self.rc.run_id,
                    "ok": False,
                    "counts": dict.fromkeys(OPS, 0)
                    | {
                        "failed": 0,
                        "retries": self.recorder.retries,
                        "requests": self.recorder.requests,
                    },
                    "failures": [],
                    "duration_s": round(time.perf_counter() - self.t0, 3),
                }
            if error is not None:
                payload["error"] = getattr(error, "message", type(error).__name__)
            try:
                self.recorder.append("run.finished", payload)
            finally:
                self.recorder.close()


def _incremental(run: _Run, source: Source, rc: RunContext) -> tuple[frozenset[str], int] | None:
    """The people to read for an incremental run, and the recorded account count."""
    if rc.full:
        return None
    prev = syncstate.last_state(rc.ledger, rc.target.url, rc.mapping.sha256)
    if prev is None:
        return None
    rc.fingerprints = syncstate.fingerprints(rc.mapping, source.records, rc.today or date.today())
    total = run.client.count("Users", {"operation": "read", "resource_type": "User"})
    if total != prev.get("total"):
        return None  # the target was reset or changed out of band: read it all
    return syncstate.changed(prev.get("people") or {}, rc.fingerprints), int(prev["total"])


def _plan(run: _Run, source: Source, rc: RunContext, only: frozenset[str] | None) -> Plan:
    run.client.discover()
    incremental = _incremental(run, source, rc) if only is None else None
    people = only if incremental is None else incremental[0]
    read = people
    if people is not None:  # also read the accounts their references (managers) point to
        key = rc.mapping.source.key
        wanted = [r for r in source.records if r[key] in people]
        read = people | {ref for r in wanted for ref in rc.mapping.refs(r)}
    state = read_target(run.client, rc.mapping, read)
    if incremental is not None:
        state.total = incremental[1]
    opts = Options(
        rc.today or date.today(), rc.target.adopt_by_username, rc.target.allow_delete, people
    )
    changes, problems = build(source.records, rc.mapping, state, opts)
    if incremental is None:
        active = sum(1 for u in state.users.values() if u.active and u.external_id)
    else:
        active = incremental[1]
    plan = Plan(
        {
            "name": rc.target.name,
            "url": rc.target.url,
            "active_accounts": active,
            "read": "full" if people is None else f"{len(people)} people",
            "total": state.total,
        },
        {"path": rc.mapping.path, "sha256": rc.mapping.sha256},
        source.describe(),
        changes,
        problems,
        utc_now(),
        rc.actor,
    )
    plan.seal()
    run.recorder.append(
        "plan.recorded",
        {
            "plan_hash": plan.plan_hash,
            "target": plan.target,
            "counts": plan.counts,
            "changes": [c.summary() for c in plan.changes],
            "problems": problems,
        },
    )
    run.client.plan_hash = plan.plan_hash
    return plan


def plan_run(rc: RunContext, source: Source, *, only: Iterable[str] | None = None) -> RunResult:
    """Read the target and plan; nothing is written to the target."""
    rc.mode = "plan"
    run = _Run(rc, source)
    result: RunResult | None = None
    try:
        plan = _plan(run, source, rc, frozenset(only) if only else None)
        result = RunResult(rc.run_id, plan, counts=plan.counts)
        result.failures = [Failure(p["external_id"], "plan", p["problem"]) for p in plan.problems]
        result.ok = not plan.problems
        run.finish(result)
        return result
    except BaseException as exc:
        run.finish(result, exc)
        raise


def refuse_invalid(rc: RunContext, source: Source, skip_invalid: bool = False) -> None:
    """Unless ``skip_invalid``, refuse a source with rejected rows — after recording them
    (run.started, hr.rejected…, run.finished), so the evidence lists them either way."""
    try:
        source.require_valid(skip_invalid)
    except InvalidRows as err:
        _Run(rc, source).finish(None, err)
        raise


def check_threshold(plan: Plan, target: Target) -> None:
    n = plan.deprovision_count()
    total = int(plan.target.get("active_accounts") or 0)
    if n > target.max_deprovision:
        raise MassDeprovision(n, total, f"more than {target.max_deprovision}")
    if total and n > 5 and 100.0 * n / total > target.max_deprovision_percent:
        raise MassDeprovision(n, total, f"more than {target.max_deprovision_percent:g}%")


def find_approval(ledger: Ledger, plan_hash: str, planned_by: str) -> str | None:
    for e in ledger.entries(kind="plan.approved"):
        p = e.payload or {}
        if p.get("plan_hash") == plan_hash and p.get("approver") != planned_by:
            return str(p.get("approver"))
    return None


def approve(ledger: Ledger, plan: Plan, approver: str) -> int:
    """Record an approval of a plan's hash (the approver must not be the planner)."""
    if not plan.plan_hash:
        raise PlanError("the plan has no hash; it was not produced by `scimtrail provision plan`")
    if approver == plan.planned_by:
        raise ApprovalRequired(plan.plan_hash, plan.planned_by)
    return ledger.append(
        "plan.approved",
        {"plan_hash": plan.plan_hash, "approver": approver, "planned_by": plan.planned_by},
        actor=approver,
    ).seq


def load_plan(path: str | Path) -> Plan:
    try:
        data = json.loads(Path(path).read_bytes())
        plan = Plan.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"cannot read plan {path}: {exc}") from None
    stated = str(data.get("plan_hash", ""))
    if plan.seal() != stated:
        raise PlanError(
            f"plan {path} was changed after it was made (hash {plan.plan_hash[:16]} ≠ "
            f"{stated[:16]})",
            "make a new plan with `scimtrail provision plan`; plans are not edited by hand",
        )
    return plan


def revalidate(plan: Plan, state: TargetState) -> tuple[list[Change], int, list[str]]:
    """A reviewed plan against the target now: (to run, already applied, invalidated)."""
    todo: list[Change] = []
    done = 0
    problems: list[str] = []
    for c in plan.changes:
        status = _still_valid(c, state)
        if status == "todo":
            todo.append(c)
        elif status == "done":
            done += 1
        else:
            problems.append(f"{c.op} {c.external_id}: {status}")
    return todo, done, problems


def _still_valid(c: Change, s: TargetState) -> str:
    users = (
        s.user_for(c.external_id) if c.resource_type == "User" or c.op.startswith("member") else []
    )
    if c.op == "create":
        if not users:
            return "todo"
        return "done" if len(users) == 1 else "several accounts now have this externalId"
    if c.op == "group_create":
        return "done" if s.groups_by_ext.get(c.external_id) else "todo"
    if c.op.startswith("membership"):
        gids = s.groups_by_ext.get(c.group or "", [])
        if c.group_id and c.group_id not in s.groups:
            return "the group was deleted"
        if not gids or not users:
            return "todo"
        present = users[0].id in s.groups[gids[0]].members
        return "done" if present == (c.op == "membership_add") else "todo"
    u = s.users.get(c.scim_id or "")
    if u is None:
        return "done" if c.op == "delete" else f"account {c.scim_id} no longer exists"
    if c.op == "deactivate":
        return "todo" if u.active else "done"
    if c.op == "reactivate":
        return "done" if u.active else "todo"
    if c.op == "delete":
        return "todo"
    if c.op == "update":
        before, after = c.before or {}, c.attrs or {}
        pending = False
        for k, new in after.items():
            cur = u.flat.get(k)
            if isinstance(new, dict) or cur == new:
                continue
            if cur == before.get(k):
                pending = True
            else:
                return f"{k} is now {cur!r}, the plan expected {before.get(k)!r}"
        return "todo" if pending else "done"
    return "todo"


def apply_run(
    rc: RunContext,
    source: Source | None,
    *,
    plan_file: str | Path | None = None,
    allow_mass_deprovision: bool = False,
    only: Iterable[str] | None = None,
) -> RunResult:
    """Execute a fresh plan from ``source``, or exactly the reviewed ``plan_file``."""
    if rc.mode != "serve":
        rc.mode = "apply"
    reviewed = load_plan(plan_file) if plan_file else None
    if reviewed is not None:
        if reviewed.target.get("url") != rc.target.url:
            raise PlanError(
                f"plan {plan_file} is for {reviewed.target.get('url')}, not {rc.target.url}"
            )
        if (
            rc.target.require_approval
            and find_approval(rc.ledger, reviewed.plan_hash, reviewed.planned_by) is None
        ):
            raise ApprovalRequired(reviewed.plan_hash, reviewed.planned_by)
    elif rc.target.require_approval:
        raise ApprovalRequired("(fresh plan)", rc.actor)
    run = _Run(rc, source, reviewed.plan_hash if reviewed else None)
    result: RunResult | None = None
    try:
        only_set = frozenset(only) if only else None
        if reviewed is None:
            assert source is not None
            plan = _plan(run, source, rc, only_set)
            todo, skipped = plan.changes, 0
        else:
            plan = reviewed
            run.client.discover()
            state = read_target(run.client, rc.mapping)
            todo, skipped, problems = revalidate(plan, state)
            if problems:
                raise PlanStale(plan.plan_hash, problems)
            _fill_ids(todo, state)
        result = RunResult(rc.run_id, plan, skipped=skipped)
        result.failures = [Failure(p["external_id"], "plan", p["problem"]) for p in plan.problems]
        if not allow_mass_deprovision:
            check_threshold(plan, rc.target)
        if only_set and source is not None:
            result.trace.extend(_steps(rc, source, only_set, todo))
        ex = Executor(run.client, run.recorder, rc, plan, result)
        ex.execute(todo)
        result.ok = not result.failures
        if result.ok and reviewed is None and only is None and source is not None:
            _record_state(run, rc, source, plan, result)
        if result.failures and result.compensation is None:
            notify(
                run.recorder,
                rc.target,
                {
                    "subject": "scimtrail: provisioning run finished with failures",
                    "run_id": rc.run_id,
                    "target": rc.target.name,
                    "failures": [f.as_dict() for f in result.failures[:100]],
                },
            )
        run.finish(result)
        return result
    except BaseException as exc:
        run.finish(result, exc)
        raise


def _steps(
    rc: RunContext, source: Source, only: frozenset[str], todo: Sequence[Change]
) -> list[str]:
    """The single-person trace before execution: HR record, scope/lifecycle, match, plan."""
    key = rc.mapping.source.key
    lines: list[str] = []
    found = {r[key]: r for r in source.records if r[key] in only}
    for ext in sorted(only):
        rec = found.get(ext)
        if rec is None:
            lines.append(f"source: {ext} is not in {source.path}")
            continue
        st = rc.mapping.state(rec, rc.today or date.today())
        lines.append(f"source: {ext} found ({rec.get(rc.mapping.source.status, '')})")
        lines.append(f"scope: {st.category} — {st.reason}")
        mine = [c for c in todo if c.external_id == ext]
        ids = sorted({c.scim_id for c in mine if c.scim_id})
        if ids:
            match = f"account {', '.join(ids)}"
        elif any(c.op == "create" for c in mine):
            match = "no account yet"
        else:
            match = "nothing to change"
        lines.append(f"match: externalId {ext} → {match}")
        for c in mine:
            what = ", ".join(sorted(c.attrs or {})) if c.op == "update" else (c.group or "")
            lines.append(f"plan: {c.op} {what}".rstrip())
    return lines


def _record_state(run: _Run, rc: RunContext, source: Source, plan: Plan, result: RunResult) -> None:
    """After a successful full-source apply: the fingerprints for the next incremental run."""
    fps = rc.fingerprints or syncstate.fingerprints(
        rc.mapping, source.records, rc.today or date.today()
    )
    total = plan.target.get("total")
    if total is None:
        return
    total = int(total) + result.counts.get("create", 0) - result.counts.get("delete", 0)
    run.recorder.append(
        syncstate.KIND,
        {
            "target": rc.target.url,
            "mapping_sha256": rc.mapping.sha256,
            "source_sha256": source.sha256,
            "total": total,
            "people": fps,
        },
    )


def _fill_ids(changes: Sequence[Change], state: TargetState) -> None:
    """Ids of objects created since the plan was made (after a crashed apply)."""
    for c in changes:
        if c.op.startswith("membership"):
            if c.group_id is None and c.group:
                gids = state.groups_by_ext.get(c.group, [])
                c.group_id = gids[0] if gids else None
            if c.scim_id is None:
                us = state.user_for(c.external_id)
                c.scim_id = us[0].id if len(us) == 1 else None
