"""The executor: runs a plan's changes against one target, and compensates failed batches.

Phases run in order (group_create, deactivate, create in manager-first waves, reactivate,
update, membership_remove, membership_add, delete), each in batches of ``batch_size`` with
at most ``concurrency`` requests in flight. When a batch has failures past their retries,
the target's compensation policy runs (``quarantine`` or ``revert``) and a notification
goes out; all of it is recorded.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from provisioner import mapping as mp
from provisioner.config import Target
from provisioner.context import Failure, RunContext, RunResult
from provisioner.errors import (
    CircuitOpen,
    EvidenceUnavailable,
    ProvisionError,
)
from provisioner.plan import OPS, Change, Plan, wave
from provisioner.scim import (
    Recorder,
    Result,
    ScimClient,
    escape_filter,
    send_notification,
)


@dataclass(slots=True)
class Applied:
    op: str
    external_id: str
    scim_id: str
    before: dict[str, Any] | None = None
    resource_type: str = "User"
    members: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """Work for one worker: a call, and the people (externalIds) it is about."""

    fn: Callable[[], None]
    people: list[str]


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

    def _tasks(self, op: str, items: Sequence[Change]) -> list[Task]:
        """One task per change; membership changes in one task per group chunk."""
        if op.startswith("membership"):
            by_group: dict[str, list[Change]] = {}
            for c in items:
                by_group.setdefault(c.group or "", []).append(c)
            out: list[Task] = []
            size = max(1, self.t.member_batch)
            for g, cs in sorted(by_group.items()):
                for i in range(0, len(cs), size):
                    chunk = cs[i : i + size]
                    fn = functools.partial(self._members, op, g, chunk)
                    out.append(Task(fn, [c.external_id for c in chunk]))
            return out
        do: Callable[[Change], None] = getattr(self, f"_do_{op}")
        return [Task(functools.partial(do, c), [c.external_id]) for c in items]

    def _phase(self, op: str, items: Sequence[Change], total: int) -> None:
        tasks = self._tasks(op, items)
        size = max(1, self.t.batch_size)
        for i in range(0, len(tasks), size):
            batch = tasks[i : i + size]
            applied: list[Applied] = []
            failures_before = len(self.result.failures)
            if self.stopped is not None:
                for task in batch:
                    for ext in task.people:
                        self._fail(ext, op, f"not attempted: {_msg(self.stopped)}")
                    self.done += len(task.people)
                continue
            self._batch_applied = applied
            self._run_batch(op, batch)
            if len(self.result.failures) > failures_before and self.t.compensation != "none":
                self._compensate(applied, self.result.failures[failures_before:])
            if self.rc.progress:
                self.rc.progress(op, self.done, total)

    def _run_batch(self, op: str, batch: Sequence[Task]) -> None:
        members = op.startswith("membership")  # _members lists its own failures per person

        def one(task: Task) -> None:
            if self.stopped is not None:
                for ext in task.people:
                    self._fail(ext, op, f"not attempted: {_msg(self.stopped)}")
            else:
                try:
                    task.fn()
                except (CircuitOpen, EvidenceUnavailable) as exc:
                    with self.lock:
                        if self.stopped is None:
                            self.stopped = exc
                    if not members:
                        self._fail(task.people[0], op, exc.message)
                except ProvisionError as exc:
                    self._fail(getattr(exc, "external_id", None), op, exc.message)
            with self.lock:
                self.done += len(task.people)

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

    def _uid(self, c: Change) -> str:
        uid = c.scim_id or self.ids.get(c.external_id)
        if not uid:
            raise ProvisionError(f"{c.op} of {c.external_id}: no account id")
        return uid

    def _do_update(self, c: Change) -> None:
        with _Wrap(c):
            uid = self._uid(c)
            changes = self._resolve(c.attrs or {})
            self._write_user(c, uid, changes, "update")
            self._record_applied(Applied("update", c.external_id, uid, dict(c.before or {})))
            self._ok("update")
            self._trace(f"update {c.external_id}: {', '.join(sorted(changes))}")

    def _set_active(self, c: Change, value: bool) -> None:
        with _Wrap(c):
            uid = self._uid(c)
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
            uid = self._uid(c)
            self.client.delete("Users", uid, self._ctx(c))
            self._ok("delete")
            self._trace(f"delete {c.external_id} ({uid})")

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
    """Tags a ProvisionError with the change's externalId, for the run's failure list."""

    def __init__(self, c: Change) -> None:
        self.c = c

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, ev: Any, tb: Any) -> Literal[False]:
        if isinstance(ev, ProvisionError):
            ev.external_id = self.c.external_id  # type: ignore[attr-defined]
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
