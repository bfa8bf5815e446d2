"""Plan and apply runs: read the target, plan, check the guards, execute, compensate, record.

The library entry points (the CLI and ``make demo`` call these):

* :func:`plan_run` — read HR and the target, build and record a plan (no writes);
* :func:`apply_run` — execute a fresh plan, or exactly a reviewed plan file;
* :func:`approve` — record an approval of a plan's hash.

The executor runs the plan's phases in order (group_create, deactivate, create in
manager-first waves, reactivate, update, membership_remove, membership_add, delete),
each in batches of ``batch_size`` with at most ``concurrency`` requests in flight.
When a batch has failures past their retries, the target's compensation policy runs
(``quarantine`` or ``revert``) and a notification goes out; all of it is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner import state as syncstate
from provisioner.config import Target
from provisioner.errors import (
    ApprovalRequired,
    CircuitOpen,
    EvidenceUnavailable,
    InvalidRows,
    MassDeprovision,
    PlanError,
    PlanStale,
    ProvisionError,
)
from provisioner.plan import OPS, Change, Options, Plan, TargetState, build, wave
from provisioner.scim import (
    Recorder,
    Result,
    ScimClient,
    escape_filter,
    send_notification,
)
from provisioner.sources import Source

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def default_actor(given: str | None = None) -> str:
    """``--actor``, else the CI identity from the environment, else the OS user."""
    if given:
        return given
    for var in (
        "SCIMTRAIL_ACTOR",
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "BUILD_REQUESTEDFOR",
        "CI_COMMIT_AUTHOR",
        "BUILDKITE_BUILD_CREATOR",
        "JENKINS_USER_ID",
    ):
        if os.environ.get(var):
            ci = os.environ.get("GITHUB_WORKFLOW") or os.environ.get("CI_JOB_NAME")
            return f"{os.environ[var]}" + (f" (ci:{ci})" if ci else "")
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def git_info(path: str | Path) -> dict[str, Any]:
    """The commit a file came from, and whether the working tree was dirty."""
    d = Path(path).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(d), *args], capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None, "repo": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    tracked = git("ls-files", "--error-unmatch", Path(path).name)
    return {
        "git_commit": commit,
        "git_dirty": bool(status),
        "repo": git("rev-parse", "--show-toplevel"),
        "tracked": tracked is not None,
    }


def _version() -> str:
    try:
        return metadata.version("scimtrail")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        for ext in only:
            ctx = {"operation": "lookup", "resource_type": "User", "external_id": ext}
            for res in client.find("Users", "externalId", ext, ctx):
                state.add_user(res)
    for res in client.iter_resources("Groups", ctx={"operation": "read", "resource_type": "Group"}):
        state.add_group(res)
    return state


# -- runs ---------------------------------------------------------------------------
@dataclass(slots=True)
class RunContext:
    """Everything a run needs; built by the CLI, the webhook server or the demo."""

    target: Target
    mapping: mp.MappingFile
    ledger: Ledger
    actor: str
    transport: Any = None  # an httpx transport for tests and in-process servers
    progress: Progress | None = None
    today: date | None = None
    clock: Any = None
    mode: str = "apply"
    full: bool = False  # read the whole target even when an incremental run is possible
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    fingerprints: dict[str, str] | None = None


@dataclass(slots=True)
class Failure:
    external_id: str | None
    operation: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"external_id": self.external_id, "operation": self.operation, "error": self.error}


@dataclass(slots=True)
class RunResult:
    run_id: str
    plan: Plan
    ok: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    skipped: int = 0
    duration_s: float = 0.0
    requests: int = 0
    retries: int = 0
    compensation: dict[str, Any] | None = None
    trace: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


class _Run:
    """One run's open resources: recorder, client; closed in ``finish``."""

    def __init__(self, rc: RunContext, source: Source | None, plan_hash: str | None = None) -> None:
        self.rc = rc
        self.t0 = time.perf_counter()
        t = rc.target
        self.recorder = Recorder(
            rc.ledger,
            rc.actor,
            rc.run_id,
            flush_every=t.evidence_flush_every,
            flush_ms=t.evidence_flush_ms,
        )
        self.credential = t.credential()
        started = {
            "run_id": rc.run_id,
            "mode": rc.mode,
            "target": {"name": t.name, "url": t.url},
            "source": source.describe() if source else None,
            "mapping": {"path": rc.mapping.path, "sha256": rc.mapping.sha256}
            | git_info(rc.mapping.path),
            "plan_hash": plan_hash,
            "auth": self.credential.describe(),
            "scimtrail_version": _version(),
        }
        try:
            self.recorder.append("run.started", started)
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
        except BaseException:
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


def refuse_invalid(rc: RunContext, source: Source) -> None:
    """Record the rejected rows (run.started, hr.rejected…, run.finished) and refuse."""
    run = _Run(rc, source)
    err = InvalidRows(source.path, [str(r) for r in source.rejected])
    run.finish(None, err)
    raise err


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


# -- the executor ----------------------------------------------------------------------
@dataclass(slots=True)
class Applied:
    op: str
    external_id: str
    scim_id: str
    before: dict[str, Any] | None = None
    resource_type: str = "User"
    members: list[str] | None = None


class Executor:
    def __init__(
        self, client: ScimClient, recorder: Recorder, rc: RunContext, plan: Plan, result: RunResult
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.rc = rc
        self.t = rc.target
        self.plan = plan
        self.result = result
        self.ids: dict[str, str] = {}
        self.group_ids: dict[str, str] = {}
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(OPS, 0)
        self.stopped: BaseException | None = None
        self.failed_creates: set[str] = set()
        self.done = 0

    # -- bookkeeping -------------------------------------------------------------
    def _fail(self, ext: str | None, op: str, err: str) -> None:
        with self.lock:
            self.result.failures.append(Failure(ext, op, err))

    def _ok(self, op: str, n: int = 1) -> None:
        with self.lock:
            self.counts[op] += n

    def _trace(self, line: str) -> None:
        with self.lock:
            self.result.trace.append(line)

    def execute(self, changes: Sequence[Change]) -> None:
        for c in changes:
            if c.scim_id and c.resource_type == "User" and not c.op.startswith("member"):
                self.ids[c.external_id] = c.scim_id
            if c.op.startswith("member"):
                if c.scim_id:
                    self.ids.setdefault(c.external_id, c.scim_id)
                if c.group_id and c.group:
                    self.group_ids[c.group] = c.group_id
        total = len(changes)
        for op in OPS:
            items = [c for c in changes if c.op == op]
            if not items:
                continue
            if op == "create":
                creates = {c.external_id: c for c in items}
                memo: dict[str, int] = {}
                waves: dict[int, list[Change]] = {}
                for c in items:
                    waves.setdefault(wave(c, creates, memo), []).append(c)
                groups = [waves[k] for k in sorted(waves)]
            else:
                groups = [items]
            for g in groups:
                self._phase(op, g, total)
        self.result.counts = self.counts

    def _tasks(self, op: str, items: Sequence[Change]) -> list[tuple[Callable[[], None], int]]:
        if op.startswith("membership"):
            by_group: dict[str, list[Change]] = {}
            for c in items:
                by_group.setdefault(c.group or "", []).append(c)
            out: list[tuple[Callable[[], None], int]] = []
            size = max(1, self.t.member_batch)
            for g, cs in sorted(by_group.items()):
                for i in range(0, len(cs), size):
                    chunk = cs[i : i + size]
                    out.append((functools.partial(self._members, op, g, chunk), len(chunk)))
            return out
        fn: Callable[[Change], None] = getattr(self, f"_do_{op}")
        return [(functools.partial(fn, c), 1) for c in items]

    def _phase(self, op: str, items: Sequence[Change], total: int) -> None:
        tasks = self._tasks(op, items)
        size = max(1, self.t.batch_size)
        for i in range(0, len(tasks), size):
            batch = tasks[i : i + size]
            applied: list[Applied] = []
            failures_before = len(self.result.failures)
            if self.stopped is not None:
                for _fn, n in batch:
                    self._fail(None, op, f"not attempted: {_msg(self.stopped)}")
                    self.done += n
                continue
            self._batch_applied = applied
            self._run_batch(op, batch)
            if len(self.result.failures) > failures_before and self.t.compensation != "none":
                self._compensate(applied, self.result.failures[failures_before:])
            if self.rc.progress:
                self.rc.progress(op, self.done, total)

    def _run_batch(self, op: str, batch: Sequence[tuple[Callable[[], None], int]]) -> None:
        def one(task: tuple[Callable[[], None], int]) -> None:
            fn, n = task
            if self.stopped is not None:
                self._fail(None, op, f"not attempted: {_msg(self.stopped)}")
            else:
                try:
                    fn()
                except (CircuitOpen, EvidenceUnavailable) as exc:
                    with self.lock:
                        if self.stopped is None:
                            self.stopped = exc
                    self._fail(None, op, exc.message)
                except ProvisionError as exc:
                    pass_ext = getattr(exc, "external_id", None)
                    self._fail(pass_ext, op, exc.message)
            with self.lock:
                self.done += n

        workers = max(1, min(self.t.concurrency, len(batch)))
        if workers == 1:
            for task in batch:
                one(task)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scimtrail") as pool:
                list(pool.map(one, batch))
        if isinstance(self.stopped, EvidenceUnavailable):
            raise self.stopped

    def _record_applied(self, a: Applied) -> None:
        with self.lock:
            self._batch_applied.append(a)

    # -- changes ---------------------------------------------------------------------
    def _ctx(self, c: Change, op: str | None = None) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "operation": op or c.op,
            "resource_type": c.resource_type,
            "external_id": c.external_id,
            "employee_id": c.employee_id,
            "scim_id": c.scim_id or self.ids.get(c.external_id),
        }
        if c.hr:
            ctx["hr"] = c.hr
        return ctx

    def _resolve(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in attrs.items():
            if isinstance(v, dict) and "$ref" in v:
                with self.lock:
                    v = self.ids.get(v["$ref"])
            out[k] = v
        return out

    def _lookup_user(self, ext: str, ctx: Mapping[str, Any]) -> Result | None:
        found = self.client.find("Users", "externalId", ext, ctx)
        return Result(200, found[0]) if len(found) == 1 else None

    def _do_create(self, c: Change) -> None:
        err = _Wrap(c)
        attrs = self._resolve(c.attrs or {})
        body = mp.to_payload(attrs) | {"active": True}
        ctx = self._ctx(c)
        with err:
            r = self.client.create(
                "Users", body, ctx, lambda: self._lookup_user(c.external_id, ctx)
            )
            if r.status == 409:
                r = self._adopt(c, attrs, ctx)
            uid = str(r.resource.get("id") or "")
            if not uid:  # a lenient server may answer 201 without a body: look it up
                found = self._lookup_user(c.external_id, ctx)
                uid = str(found.resource.get("id") or "") if found else ""
            if not uid:
                raise ProvisionError(f"create of {c.external_id}: the answer carries no id")
            with self.lock:
                self.ids[c.external_id] = uid
            self._record_applied(Applied("create", c.external_id, uid))
            self._ok("create")
            how = "adopted" if r.landed_by_lookup or r.status == 200 else "created"
            self._trace(f"create {c.external_id}: {how} as {uid}")

    def _adopt(self, c: Change, attrs: Mapping[str, Any], ctx: Mapping[str, Any]) -> Result:
        """409 on create: find the account by externalId, then userName; adopt once, never loop."""
        found = self.client.find("Users", "externalId", c.external_id, ctx)
        if not found and c.user_name:
            found = self.client.find("Users", "userName", str(c.user_name), ctx)
        if len(found) != 1:
            raise ProvisionError(
                f"create of {c.external_id} conflicted (409) and {len(found)} matching accounts "
                "were found; resolve by hand"
            )
        res = found[0]
        if res.get("externalId") not in (None, "", c.external_id):
            raise ProvisionError(
                f"create of {c.external_id} conflicted (409) with account {res.get('id')}, which "
                f"belongs to externalId {res.get('externalId')!r}; not adopted"
            )
        uid = str(res["id"])
        ops = mp.patch_ops({k: v for k, v in attrs.items() if v is not None}, res)
        ops.append({"op": "replace", "path": "active", "value": True})
        self.client.patch("Users", uid, ops, dict(ctx) | {"operation": "update", "scim_id": uid})
        return Result(200, res)

    def _write_user(self, c: Change, uid: str, changes: Mapping[str, Any], op: str) -> None:
        """PATCH the flat changes (PUT of the merged resource without PATCH); 412 → re-read once."""
        ctx = self._ctx(c, op)
        etag = c.version
        for attempt in (1, 2):
            if self.client.caps.patch:
                if attempt == 1 and c.ops is not None and op == "update":
                    ops = c.ops
                else:
                    cur = self.client.get("Users", uid, ctx) if attempt == 2 else None
                    if attempt == 2 and cur is None:
                        raise ProvisionError(f"{op} of {c.external_id}: account {uid} is gone")
                    ops = mp.patch_ops(changes, cur.resource if cur else None)
                    if "active" in changes:
                        ops = [o for o in ops if o["path"] != "active"] + [
                            {"op": "replace", "path": "active", "value": changes["active"]}
                        ]
                    etag = (
                        cur.etag or (cur.resource.get("meta") or {}).get("version") if cur else etag
                    )
                r = self.client.patch("Users", uid, ops, ctx, etag)
            else:
                cur = self.client.get("Users", uid, ctx)
                if cur is None:
                    raise ProvisionError(f"{op} of {c.external_id}: account {uid} is gone")
                rest = {k: v for k, v in changes.items() if k != "active"}
                body = mp.merge_for_put(cur.resource, rest)
                if "active" in changes:
                    body["active"] = changes["active"]
                etag = cur.etag or (cur.resource.get("meta") or {}).get("version")
                r = self.client.put("Users", uid, body, ctx, etag)
            if r.status != 412:
                return
        raise ProvisionError(f"{op} of {c.external_id}: the account kept changing (412 twice)")

    def _do_update(self, c: Change) -> None:
        uid = c.scim_id or self.ids.get(c.external_id)
        with _Wrap(c):
            assert uid
            changes = self._resolve(c.attrs or {})
            self._write_user(c, uid, changes, "update")
            self._record_applied(Applied("update", c.external_id, uid, dict(c.before or {})))
            self._ok("update")
            self._trace(f"update {c.external_id}: {', '.join(sorted(changes))}")

    def _set_active(self, c: Change, value: bool) -> None:
        uid = c.scim_id or self.ids.get(c.external_id)
        with _Wrap(c):
            assert uid
            self._write_user(c, uid, {"active": value}, c.op)
            self._record_applied(Applied(c.op, c.external_id, uid, {"active": not value}))
            self._ok(c.op)
            self._trace(f"{c.op} {c.external_id} ({uid}): active={str(value).lower()}")

    def _do_deactivate(self, c: Change) -> None:
        self._set_active(c, False)

    def _do_reactivate(self, c: Change) -> None:
        self._set_active(c, True)

    def _do_delete(self, c: Change) -> None:
        with _Wrap(c):
            assert c.scim_id
            self.client.delete("Users", c.scim_id, self._ctx(c))
            self._ok("delete")
            self._trace(f"delete {c.external_id} ({c.scim_id})")

    def _do_group_create(self, c: Change) -> None:
        ctx = self._ctx(c)
        body = {
            "schemas": [mp.GROUP_SCHEMA],
            "displayName": c.display_name,
            "externalId": c.external_id,
            "members": [],
        }

        def lookup() -> Result | None:
            found = self.client.find("Groups", "externalId", c.external_id, ctx)
            return Result(200, found[0]) if len(found) == 1 else None

        with _Wrap(c):
            r = self.client.create("Groups", body, ctx, lookup)
            if r.status == 409:
                found = self.client.find("Groups", "externalId", c.external_id, ctx) or (
                    self.client.find("Groups", "displayName", str(c.display_name), ctx)
                )
                if len(found) != 1:
                    raise ProvisionError(f"group {c.external_id}: 409 and no single match")
                r = Result(200, found[0])
            gid = str(r.resource.get("id") or "")
            with self.lock:
                self.group_ids[c.external_id] = gid
            self._record_applied(Applied("group_create", c.external_id, gid, resource_type="Group"))
            self._ok("group_create")

    def _members(self, op: str, group: str, chunk: Sequence[Change]) -> None:
        gid = self.group_ids.get(group)
        if not gid:
            for c in chunk:
                self._fail(c.external_id, op, f"group {group} does not exist (its creation failed)")
            return
        pairs: list[tuple[Change, str]] = []
        for c in chunk:
            uid = self.ids.get(c.external_id) or c.scim_id
            if uid is None:
                self._fail(c.external_id, op, "the account was not created")
            else:
                pairs.append((c, uid))
        if not pairs:
            return
        if op == "membership_add":
            ops = [{"op": "add", "path": "members", "value": [{"value": u} for _, u in pairs]}]
        else:
            ops = [
                {"op": "remove", "path": f"members[value eq {escape_filter(u)}]"} for _, u in pairs
            ]
        ctx = {
            "operation": op,
            "resource_type": "Group",
            "external_id": group,
            "scim_id": gid,
            "group": group,
            "members": [c.external_id for c, _ in pairs],
        }
        try:
            self.client.patch("Groups", gid, ops, ctx)
        except ProvisionError as exc:
            for c, _ in pairs:
                self._fail(c.external_id, op, f"{group}: {exc.message}")
            if isinstance(exc, CircuitOpen | EvidenceUnavailable):
                raise
            return
        self._record_applied(
            Applied(op, group, gid, resource_type="Group", members=[u for _, u in pairs])
        )
        self._ok(op, len(pairs))
        for c, _ in pairs:
            self._trace(f"{op} {c.external_id} → {group}")

    # -- compensation --------------------------------------------------------------
    def _compensate(self, applied: Sequence[Applied], failures: Sequence[Failure]) -> None:
        policy = self.t.compensation
        actions: list[dict[str, Any]] = []
        ctx_base = {"operation": "update", "resource_type": "User"}
        if policy == "quarantine":
            seen: set[str] = set()
            targets = [a for a in applied if a.op in ("create", "reactivate")]
            for a in applied:
                if a.op == "membership_add" and a.members:
                    for uid in a.members:
                        targets.append(Applied("membership_add", a.external_id, uid))
            for a in targets:
                if a.scim_id in seen:
                    continue
                seen.add(a.scim_id)
                actions.append(
                    self._undo(
                        "deactivate",
                        a.external_id,
                        a.scim_id,
                        [{"op": "replace", "path": "active", "value": False}],
                        ctx_base,
                    )
                )
        else:  # revert
            for a in reversed(applied):
                if a.op == "create":
                    actions.append(self._undo_delete(a))
                elif a.op in ("deactivate", "reactivate"):
                    back = bool((a.before or {}).get("active"))
                    actions.append(
                        self._undo(
                            "reactivate" if back else "deactivate",
                            a.external_id,
                            a.scim_id,
                            [{"op": "replace", "path": "active", "value": back}],
                            ctx_base,
                        )
                    )
                elif a.op == "update":
                    ops = mp.patch_ops(a.before or {})
                    actions.append(self._undo("update", a.external_id, a.scim_id, ops, ctx_base))
                elif a.op in ("membership_add", "membership_remove") and a.members:
                    if a.op == "membership_add":
                        ops = [
                            {"op": "remove", "path": f"members[value eq {escape_filter(u)}]"}
                            for u in a.members
                        ]
                        undo = "membership_remove"
                    else:
                        ops = [
                            {
                                "op": "add",
                                "path": "members",
                                "value": [{"value": u} for u in a.members],
                            }
                        ]
                        undo = "membership_add"
                    actions.append(
                        self._undo(
                            undo,
                            a.external_id,
                            a.scim_id,
                            ops,
                            {"operation": undo, "resource_type": "Group"},
                            resource="Groups",
                        )
                    )
                elif a.op == "group_create":
                    actions.append(self._undo_delete(a, "Groups"))
        reason = "; ".join(f"{f.external_id}: {f.error}" for f in failures[:5])
        doc = {
            "run_id": self.rc.run_id,
            "policy": policy,
            "actions": actions,
            "reason": f"{len(failures)} change(s) failed past their retries: {reason}",
        }
        self.recorder.append("compensation", doc)
        self.result.compensation = doc
        notify(
            self.recorder,
            self.t,
            doc | {"subject": "scimtrail: batch compensated", "target": self.t.name},
        )

    def _undo(
        self,
        op: str,
        ext: str,
        sid: str,
        ops: list[dict[str, Any]],
        ctx: Mapping[str, Any],
        resource: str = "Users",
    ) -> dict[str, Any]:
        c = dict(ctx) | {"operation": op, "external_id": ext, "scim_id": sid, "compensation": True}
        try:
            self.client.patch(resource, sid, ops, c)
            outcome = "ok"
        except ProvisionError as exc:
            outcome = f"failed: {exc.message}"
        return {"operation": op, "external_id": ext, "scim_id": sid, "outcome": outcome}

    def _undo_delete(self, a: Applied, resource: str = "Users") -> dict[str, Any]:
        ctx = {
            "operation": "delete",
            "resource_type": a.resource_type,
            "external_id": a.external_id,
            "scim_id": a.scim_id,
        }
        try:
            self.client.delete(resource, a.scim_id, ctx)
            outcome = "ok"
        except ProvisionError as exc:
            outcome = f"failed: {exc.message}"
        return {
            "operation": "delete",
            "external_id": a.external_id,
            "scim_id": a.scim_id,
            "outcome": outcome,
        }


class _Wrap:
    """Turns unexpected answers into a ProvisionError naming the person; lets ours through."""

    def __init__(self, c: Change) -> None:
        self.c = c

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, ev: Any, tb: Any) -> Literal[False]:
        if isinstance(ev, ProvisionError):
            ev.external_id = self.c.external_id  # type: ignore[attr-defined]
        elif isinstance(ev, AssertionError):
            raise ProvisionError(f"{self.c.op} of {self.c.external_id}: no account id") from None
        return False


def _msg(exc: BaseException) -> str:
    return getattr(exc, "message", None) or type(exc).__name__


def notify(recorder: Recorder, t: Target, doc: Mapping[str, Any]) -> None:
    """Send a notification to the target's webhook and/or file; record each delivery."""
    subject = str(doc.get("subject", "scimtrail notification"))
    if t.notify_file:
        path = Path(t.notify_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(dict(doc), ensure_ascii=False, sort_keys=True) + "\n")
            outcome = "ok"
        except OSError as exc:
            outcome = f"failed: {exc.strerror}"
        recorder.append(
            "notification",
            {"channel": "file", "destination": str(path), "subject": subject, "outcome": outcome},
        )
    if t.notify_webhook:
        try:
            status = send_notification(t.notify_webhook, doc, t.ca_bundle)
            outcome = "ok" if status < 300 else f"failed: HTTP {status}"
        except Exception as exc:  # any delivery problem is recorded, never raised
            outcome = f"failed: {type(exc).__name__}"
        recorder.append(
            "notification",
            {
                "channel": "webhook",
                "destination": t.notify_webhook,
                "subject": subject,
                "outcome": outcome,
            },
        )
