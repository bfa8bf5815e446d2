"""The planner: desired state (HR × mapping) against the target's state → ordered changes.

Pure: no I/O. :class:`TargetState` is filled by the reader in ``provisioner.scim``;
:func:`build` returns a :class:`Plan` whose JSON form is what people review and what
``apply --plan`` executes. Accounts are matched on ``externalId`` (then, optionally,
adopted by ``userName``), groups on ``externalId`` then ``displayName``; never on names
of people.

Order of changes: group_create, deactivate, create (managers before their reports),
reactivate, update, membership_remove, membership_add, delete — cutting access first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import orjson

from provisioner.mapping import MULTI, MappingFile, patch_ops

OPS = (
    "group_create",
    "deactivate",
    "create",
    "reactivate",
    "update",
    "membership_remove",
    "membership_add",
    "delete",
)
PLAN_FORMAT = "scimtrail-plan/1"


def _norm(path: str, v: Any) -> Any:
    if v in ("", [], {}):
        return None
    if path == "userName" and isinstance(v, str):
        return v.casefold()
    return v


@dataclass(slots=True)
class TargetUser:
    id: str
    external_id: str | None
    user_name: str
    active: bool
    flat: dict[str, Any]
    version: str | None = None
    multi: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TargetGroup:
    id: str
    external_id: str | None
    display_name: str
    members: set[str]
    version: str | None = None


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v) if v is not None else True


class TargetState:
    """What the target holds, indexed for matching (filled by the reader)."""

    def __init__(self, managed_paths: frozenset[str]) -> None:
        self.paths = managed_paths
        self.users: dict[str, TargetUser] = {}
        self.by_ext: dict[str, list[str]] = {}
        self.by_name: dict[str, list[str]] = {}
        self.groups: dict[str, TargetGroup] = {}
        self.groups_by_ext: dict[str, list[str]] = {}
        self.groups_by_name: dict[str, list[str]] = {}
        self.complete = True  # False when only a part was read (single person)
        self.total: int | None = None  # accounts in the target, when known

    def add_user(self, res: Mapping[str, Any]) -> None:
        from provisioner.mapping import flatten

        uid = str(res.get("id") or "")
        if not uid or uid in self.users:
            return
        ext = res.get("externalId") or None
        meta = res.get("meta") if isinstance(res.get("meta"), dict) else {}
        u = TargetUser(
            uid,
            ext,
            str(res.get("userName") or ""),
            _bool(res.get("active", True)),
            flatten(res, self.paths),
            (meta or {}).get("version"),
            {k: res[k] for k in MULTI if res.get(k)},
        )
        self.users[uid] = u
        if ext:
            self.by_ext.setdefault(ext, []).append(uid)
        self.by_name.setdefault(u.user_name.casefold(), []).append(uid)

    def add_group(self, res: Mapping[str, Any]) -> None:
        gid = str(res.get("id") or "")
        if not gid or gid in self.groups:
            return
        members = {str(m.get("value")) for m in res.get("members") or [] if isinstance(m, dict)}
        meta = res.get("meta") if isinstance(res.get("meta"), dict) else {}
        g = TargetGroup(
            gid,
            res.get("externalId") or None,
            str(res.get("displayName") or ""),
            members,
            (meta or {}).get("version"),
        )
        self.groups[gid] = g
        if g.external_id:
            self.groups_by_ext.setdefault(g.external_id, []).append(gid)
        self.groups_by_name.setdefault(g.display_name, []).append(gid)

    def user_for(self, ext: str) -> list[TargetUser]:
        return [self.users[i] for i in self.by_ext.get(ext, [])]

    def group_for(self, ext: str, name: str) -> TargetGroup | None:
        ids = self.groups_by_ext.get(ext) or self.groups_by_name.get(name) or []
        return self.groups[ids[0]] if len(ids) == 1 else None


@dataclass(slots=True)
class Change:
    op: str
    resource_type: str
    external_id: str
    scim_id: str | None = None
    employee_id: str | None = None
    user_name: str | None = None
    attrs: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    ops: list[dict[str, Any]] | None = None
    group: str | None = None
    group_id: str | None = None
    display_name: str | None = None
    hr: dict[str, Any] | None = None
    reason: str | None = None
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for k in _CHANGE_FIELDS:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Change:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def diff(self) -> dict[str, list[Any]] | None:
        if self.op != "update" or self.attrs is None:
            return None
        before = self.before or {}
        return {k: [before.get(k), v] for k, v in self.attrs.items()}

    def summary(self) -> dict[str, Any]:
        """The change as recorded in ``plan.recorded`` (docs/evidence-kinds.md)."""
        out: dict[str, Any] = {
            "op": self.op,
            "resource_type": self.resource_type,
            "external_id": self.external_id,
        }
        for k in ("employee_id", "user_name", "group", "display_name", "hr", "reason"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.diff is not None:
            out["diff"] = self.diff
        return out


_CHANGE_FIELDS = tuple(f.name for f in fields(Change))


@dataclass(slots=True)
class Plan:
    target: dict[str, Any]
    mapping: dict[str, Any]
    source: dict[str, Any]
    changes: list[Change]
    problems: list[dict[str, Any]]
    created_at: str = ""
    planned_by: str = ""
    plan_hash: str = ""

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OPS, 0)
        for c in self.changes:
            out[c.op] += 1
        return out

    def body(self, with_changes: bool = True) -> dict[str, Any]:
        out = {
            "format": PLAN_FORMAT,
            "created_at": self.created_at,
            "planned_by": self.planned_by,
            "target": self.target,
            "mapping": self.mapping,
            "source": self.source,
            "counts": self.counts,
            "problems": self.problems,
        }
        if with_changes:
            out["changes"] = [c.as_dict() for c in self.changes]
        return out

    def seal(self) -> str:
        """Compute (and keep) the plan hash.

        SHA-256 over the body without its changes (JSON, sorted keys), then, for each
        change in order, a newline and the change (JSON, sorted keys, null fields left
        out). Streamed, so hashing a 200,000-change plan allocates one change at a time.
        """
        body = self.body(with_changes=False)
        h = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        for c in self.changes:
            h.update(b"\n")
            h.update(orjson.dumps(c.as_dict(), option=orjson.OPT_SORT_KEYS))
        self.plan_hash = h.hexdigest()
        return self.plan_hash

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"plan_hash": self.plan_hash, **self.body()},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        p = cls(
            dict(data["target"]),
            dict(data["mapping"]),
            dict(data["source"]),
            [Change.from_dict(c) for c in data["changes"]],
            list(data.get("problems") or []),
            str(data.get("created_at", "")),
            str(data.get("planned_by", "")),
        )
        return p

    def deprovision_count(self) -> int:
        return sum(1 for c in self.changes if c.op in ("deactivate", "delete"))


@dataclass(frozen=True, slots=True)
class Options:
    today: date
    adopt_by_username: bool = False
    allow_delete: bool = False
    only: frozenset[str] | None = None  # employee ids (single-person runs)


def _resolve_refs(attrs: dict[str, Any], target: TargetState, creating: set[str]) -> dict[str, Any]:
    for k, v in attrs.items():
        if isinstance(v, dict) and "$ref" in v:
            ref = v["$ref"]
            found = target.user_for(ref)
            if len(found) == 1:
                attrs[k] = found[0].id
            elif ref not in creating:
                attrs[k] = None  # the referenced person has no account: leave it out
    return attrs


def build(
    records: Iterable[Mapping[str, str]], m: MappingFile, target: TargetState, opts: Options
) -> tuple[list[Change], list[dict[str, Any]]]:
    """The ordered changes, and the problems that stop some people from being planned."""
    key = m.source.key
    by_op: dict[str, list[Change]] = {op: [] for op in OPS}
    problems: list[dict[str, Any]] = []
    desired_groups: dict[str, str] = {}  # group ext → displayName
    members: dict[str, set[str]] = {}  # group ext → user externalIds
    seen_ext: set[str] = set()
    recs = [r for r in records if opts.only is None or r[key] in opts.only]
    states = {r[key]: m.state(r, opts.today) for r in recs}
    creating = {
        r[key] for r in recs if states[r[key]].wants_account and not target.by_ext.get(r[key])
    }
    manager_of: dict[str, str] = {}
    for rec in recs:
        ext = rec[key]
        seen_ext.add(ext)
        st = states[ext]
        hr = {"status": rec.get(m.source.status, "")}
        if st.effective_date:
            hr["effective_date"] = st.effective_date
        found = target.user_for(ext)
        if len(found) > 1:
            problems.append(
                {
                    "external_id": ext,
                    "employee_id": ext,
                    "problem": f"{len(found)} accounts in the target have this externalId "
                    f"({', '.join(u.id for u in found)}); resolve by hand",
                }
            )
            continue
        user = found[0] if found else None
        attrs = m.attributes(rec)
        if user is None and opts.adopt_by_username and st.wants_account:
            wanted = str(attrs.get("userName") or "").casefold()
            cands = [target.users[i] for i in target.by_name.get(wanted, [])]
            if len(cands) == 1 and not cands[0].external_id:
                user = cands[0]
        groups = m.groups_for(rec)
        lc = m.lifecycle
        keep_groups = st.wants_account or (
            user is not None
            and (
                (st.category == "suspended" and lc.suspended_groups == "keep")
                or (st.category == "terminated" and lc.terminated_groups == "keep")
            )
        )
        for g_ext, g_name in groups.items():
            desired_groups.setdefault(g_ext, g_name)
            if keep_groups:
                members.setdefault(g_ext, set()).add(ext)
        uname = str(attrs.get("userName") or "") or None
        if st.wants_account:
            _resolve_refs(attrs, target, creating)
            ref = attrs.get("enterprise.manager")
            if isinstance(ref, dict):
                manager_of[ext] = ref["$ref"]
            if user is None:
                by_op["create"].append(
                    Change(
                        "create",
                        "User",
                        ext,
                        employee_id=ext,
                        user_name=uname,
                        attrs=attrs,
                        hr=hr,
                        reason=st.reason,
                    )
                )
                continue
            if not user.active:
                by_op["reactivate"].append(
                    Change(
                        "reactivate",
                        "User",
                        ext,
                        user.id,
                        ext,
                        user.user_name,
                        before={"active": False},
                        hr=hr,
                        reason=st.reason,
                        version=user.version,
                    )
                )
            diff = {k: v for k, v in attrs.items() if _norm(k, v) != _norm(k, user.flat.get(k))}
            if diff:
                real = {k: v for k, v in diff.items() if not isinstance(v, dict)}
                by_op["update"].append(
                    Change(
                        "update",
                        "User",
                        ext,
                        user.id,
                        ext,
                        user.user_name,
                        attrs=diff,
                        before={k: user.flat.get(k) for k in diff},
                        ops=patch_ops(real, user.multi) if len(real) == len(diff) else None,
                        hr=hr,
                        reason="attributes changed",
                        version=user.version,
                    )
                )
            continue
        if user is None:
            continue
        if st.delete and opts.allow_delete:
            by_op["delete"].append(
                Change(
                    "delete",
                    "User",
                    ext,
                    user.id,
                    ext,
                    user.user_name,
                    before={"active": user.active},
                    hr=hr,
                    reason=st.reason,
                )
            )
        elif user.active and st.category in ("terminated", "suspended", "out_of_scope"):
            by_op["deactivate"].append(
                Change(
                    "deactivate",
                    "User",
                    ext,
                    user.id,
                    ext,
                    user.user_name,
                    before={"active": True},
                    hr=hr,
                    reason=st.reason,
                    version=user.version,
                )
            )
    if (opts.only is not None or target.complete) and m.lifecycle.missing == "deactivate":
        for ext, ids in sorted(target.by_ext.items()):
            if ext in seen_ext or len(ids) != 1:
                continue
            if opts.only is not None and ext not in opts.only:
                continue
            u = target.users[ids[0]]
            if u.active:
                by_op["deactivate"].append(
                    Change(
                        "deactivate",
                        "User",
                        ext,
                        u.id,
                        None,
                        u.user_name,
                        before={"active": True},
                        reason="not in the HR source",
                        version=u.version,
                    )
                )
    # groups and memberships
    prefixes = m.group_prefixes
    managed: dict[str, TargetGroup | None] = {}
    for g_ext, g_name in desired_groups.items():
        managed[g_ext] = target.group_for(g_ext, g_name)
    for tg in target.groups.values():  # removals stay limited to `only` people below
        if tg.external_id and tg.external_id.startswith(prefixes):
            managed.setdefault(tg.external_id, tg)
    for g_ext in sorted(managed):
        g = managed[g_ext]
        g_name = desired_groups.get(g_ext) or (g.display_name if g else g_ext)
        want = members.get(g_ext, set())
        if g is None:
            if not want:
                continue
            by_op["group_create"].append(
                Change(
                    "group_create",
                    "Group",
                    g_ext,
                    display_name=g_name,
                    reason="a person's HR record needs it",
                )
            )
            have: set[str] = set()
        else:
            have = set()
            for uid in g.members:
                member = target.users.get(uid)
                if member is not None and member.external_id:
                    have.add(member.external_id)
        gid = g.id if g else None
        for ext in sorted(want - have):
            us = target.user_for(ext)
            by_op["membership_add"].append(
                Change(
                    "membership_add",
                    "Group",
                    ext,
                    us[0].id if len(us) == 1 else None,
                    ext,
                    group=g_ext,
                    group_id=gid,
                    display_name=g_name,
                )
            )
        if g is None:
            continue
        for ext in sorted(have - want):
            if opts.only is not None and ext not in opts.only:
                continue
            us = target.user_for(ext)
            if len(us) != 1:
                continue
            by_op["membership_remove"].append(
                Change(
                    "membership_remove",
                    "Group",
                    ext,
                    us[0].id,
                    ext,
                    group=g_ext,
                    group_id=gid,
                    display_name=g_name,
                )
            )
    for op in OPS:
        if op != "create":
            by_op[op].sort(key=lambda c: (c.group or "", c.external_id))
    by_op["create"] = _managers_first(by_op["create"], manager_of)
    return [c for op in OPS for c in by_op[op]], problems


def _managers_first(creates: list[Change], manager_of: Mapping[str, str]) -> list[Change]:
    depth: dict[str, int] = {}

    def d(ext: str, trail: tuple[str, ...] = ()) -> int:
        if ext in depth:
            return depth[ext]
        mgr = manager_of.get(ext)
        val = 0 if mgr is None or mgr in trail or mgr == ext else d(mgr, (*trail, ext)) + 1
        depth[ext] = val
        return val

    for c in creates:
        d(c.external_id)
    return sorted(creates, key=lambda c: (depth.get(c.external_id, 0), c.external_id))


def wave(c: Change, creates: Mapping[str, Change], memo: dict[str, int]) -> int:
    """The create wave of a change: 0 unless its manager is created in the same plan."""
    if c.external_id in memo:
        return memo[c.external_id]
    memo[c.external_id] = 0
    ref = (c.attrs or {}).get("enterprise.manager")
    if isinstance(ref, dict) and ref.get("$ref") in creates:
        memo[c.external_id] = wave(creates[ref["$ref"]], creates, memo) + 1
    return memo[c.external_id]
