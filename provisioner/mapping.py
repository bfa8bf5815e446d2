"""The mapping: a YAML file, kept in git, that turns HR records into SCIM Users and Groups.

Pure: no I/O beyond reading the file. The format is documented in docs/mapping.md.
Values are produced by a small, safe expression set (no ``eval``):

* a template string ``"{first_name} {last_name}"`` with filters ``{email|lower}``;
* ``{from: column}``, ``{constant: value}``, ``{template: "…"}``, ``{ref: column}``
  (a reference to another person's account, e.g. the manager);
* modifiers ``transform`` (filter names), ``map`` (lookup table), ``default``, ``when``.

Conditions (scope, ``when``) are ``{field, equals | not_equals | in | not_in | matches |
present}`` clauses, combined with ``all``, ``any`` and ``not``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import MappingError

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

#: Single-valued SCIM User attributes the mapping may set (flat path → kind).
TOP_LEVEL = frozenset(
    {
        "userName",
        "displayName",
        "nickName",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "profileUrl",
    }
)
NAME_PARTS = frozenset(
    {"formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"}
)
ENTERPRISE_PARTS = frozenset(
    {"employeeNumber", "costCenter", "organization", "division", "department", "manager"}
)
MULTI = frozenset({"emails", "phoneNumbers"})

_SLUG = re.compile(r"[^\w]+", re.UNICODE)


def _slug(v: str) -> str:
    return _SLUG.sub("-", v.strip().lower()).strip("-_")


def _ascii(v: str) -> str:
    return unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode("ascii")


FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "strip": str.strip,
    "title": str.title,
    "slug": _slug,
    "ascii": _ascii,
    "first": lambda v: v[:1],
    "digits": lambda v: "".join(c for c in v if c.isdigit()),
    "nospace": lambda v: "".join(v.split()),
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Template:
    """``"{first_name} {last_name|upper}"``: literals and field references with filters."""

    parts: tuple[str | tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, text: str, where: str, path: str) -> Template:
        parts: list[str | tuple[str, tuple[str, ...]]] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            tok = m.group(0)
            if tok in ("{{", "}}"):
                parts.append(tok[0])
            else:
                name, *filters = [p.strip() for p in m.group(1).split("|")]
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ .-]*", name):
                    raise MappingError(path, where, f"bad field reference {{{m.group(1)}}}")
                for f in filters:
                    if f not in FILTERS:
                        raise MappingError(
                            path, where, f"unknown filter {f!r} (known: {', '.join(FILTERS)})"
                        )
                parts.append((name, tuple(filters)))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        if any(isinstance(p, str) and ("{" in p or "}" in p) for p in parts):
            raise MappingError(path, where, f"unbalanced braces in template {text!r}")
        return cls(tuple(parts))

    @property
    def fields(self) -> set[str]:
        return {p[0] for p in self.parts if isinstance(p, tuple)}

    def literal_prefix(self) -> str:
        out = []
        for p in self.parts:
            if not isinstance(p, str):
                break
            out.append(p)
        return "".join(out)

    def render(self, rec: Mapping[str, str]) -> str:
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            v = rec.get(p[0], "") or ""
            for f in p[1]:
                v = FILTERS[f](v)
            out.append(v)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Condition:
    """One clause tree; evaluates to bool over an HR record."""

    kind: str  # "clause", "all", "any", "not"
    field_name: str = ""
    test: str = ""
    value: Any = None
    children: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, raw: Any, where: str, path: str) -> Condition:
        if isinstance(raw, list):
            return cls("all", children=tuple(cls.parse(r, where, path) for r in raw))
        if not isinstance(raw, dict):
            raise MappingError(
                path, where, "a condition is a mapping such as {field: status, in: [Active]}"
            )
        for combinator in ("all", "any"):
            if combinator in raw:
                items = raw[combinator]
                if not isinstance(items, list) or not items:
                    raise MappingError(path, where, f"{combinator} needs a non-empty list")
                return cls(combinator, children=tuple(cls.parse(r, where, path) for r in items))
        if "not" in raw:
            return cls("not", children=(cls.parse(raw["not"], where, path),))
        name = raw.get("field")
        if not isinstance(name, str):
            raise MappingError(path, where, "a clause needs `field`")
        tests = [k for k in raw if k != "field"]
        known = {"equals", "not_equals", "in", "not_in", "matches", "present"}
        if len(tests) != 1 or tests[0] not in known:
            raise MappingError(
                path, where, f"a clause takes exactly one of {', '.join(sorted(known))}"
            )
        test = tests[0]
        value = raw[test]
        if test in ("in", "not_in"):
            if not isinstance(value, list):
                raise MappingError(path, where, f"`{test}` takes a list")
            value = frozenset(str(v) for v in value)
        elif test == "matches":
            try:
                value = re.compile(str(value))
            except re.error as exc:
                raise MappingError(path, where, f"bad regular expression: {exc}") from exc
        elif test == "present":
            value = bool(value)
        else:
            value = "" if value is None else str(value)
        return cls("clause", name, test, value)

    @property
    def fields(self) -> set[str]:
        if self.kind == "clause":
            return {self.field_name}
        return set().union(*(c.fields for c in self.children))

    def holds(self, rec: Mapping[str, str]) -> bool:
        if self.kind == "all":
            return all(c.holds(rec) for c in self.children)
        if self.kind == "any":
            return any(c.holds(rec) for c in self.children)
        if self.kind == "not":
            return not self.children[0].holds(rec)
        v = (rec.get(self.field_name) or "").strip()
        t = self.test
        if t == "equals":
            return bool(v == self.value)
        if t == "not_equals":
            return bool(v != self.value)
        if t == "in":
            return v in self.value
        if t == "not_in":
            return v not in self.value
        if t == "matches":
            return self.value.fullmatch(v) is not None
        return bool(v) is bool(self.value)  # present


@dataclass(frozen=True, slots=True)
class Rule:
    """How one SCIM attribute gets its value."""

    target: str
    source: str  # "template", "from", "constant", "ref"
    template: Template | None = None
    column: str = ""
    constant: Any = None
    transforms: tuple[str, ...] = ()
    table: Mapping[str, str] | None = None
    default: str | None = None
    when: Condition | None = None

    @property
    def fields(self) -> set[str]:
        out: set[str] = set()
        if self.template is not None:
            out |= self.template.fields
        if self.column:
            out.add(self.column)
        if self.when is not None:
            out |= self.when.fields
        return out

    def value(self, rec: Mapping[str, str]) -> Any:
        if self.when is not None and not self.when.holds(rec):
            return None
        if self.source == "constant":
            return self.constant
        if self.source == "template":
            assert self.template is not None
            v = self.template.render(rec)
        else:
            v = rec.get(self.column, "") or ""
        for t in self.transforms:
            v = FILTERS[t](v)
        if self.table is not None:
            v = self.table.get(v, self.default if self.default is not None else v)
        v = v.strip()
        if not v and self.default is not None:
            v = self.default
        return v or None


@dataclass(frozen=True, slots=True)
class GroupRule:
    display_name: Template
    external_id: Template
    when: Condition | None = None

    @property
    def prefix(self) -> str:
        return self.external_id.literal_prefix()


@dataclass(frozen=True, slots=True)
class Lifecycle:
    active: frozenset[str]
    suspended: frozenset[str]
    terminated: frozenset[str]
    effective_date: str | None = None
    start_date: str | None = None
    lead_days: int = 0
    suspended_groups: str = "keep"  # keep | remove
    terminated_groups: str = "remove"
    missing: str = "deactivate"  # deactivate | ignore
    delete_after_days: int | None = None

    @property
    def statuses(self) -> frozenset[str]:
        return self.active | self.suspended | self.terminated

    def category(self, status: str) -> str:
        if status in self.active:
            return "active"
        if status in self.suspended:
            return "suspended"
        if status in self.terminated:
            return "terminated"
        return "unknown"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    key: str
    status: str
    emails: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    date_format: str = "%Y-%m-%d"


@dataclass(frozen=True, slots=True)
class State:
    """What the mapping says a person should be in the target."""

    category: str  # active | suspended | terminated | out_of_scope | not_yet
    reason: str
    effective_date: str | None = None
    delete: bool = False

    @property
    def wants_account(self) -> bool:
        return self.category == "active"


@dataclass(frozen=True, slots=True)
class MappingFile:
    path: str
    sha256: str
    source: SourceSpec
    rules: tuple[Rule, ...]
    groups: tuple[GroupRule, ...]
    lifecycle: Lifecycle
    scope_include: tuple[Condition, ...] = ()
    scope_exclude: tuple[Condition, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> set[str]:
        """Every HR column the mapping reads."""
        cols = {self.source.key, self.source.status, *self.source.emails, *self.source.dates}
        cols |= set(self.source.required)
        for r in self.rules:
            cols |= r.fields
        for g in self.groups:
            cols |= g.display_name.fields | g.external_id.fields
            if g.when is not None:
                cols |= g.when.fields
        for c in (*self.scope_include, *self.scope_exclude):
            cols |= c.fields
        for d in (self.lifecycle.effective_date, self.lifecycle.start_date):
            if d:
                cols.add(d)
        return cols

    @property
    def group_prefixes(self) -> tuple[str, ...]:
        return tuple(g.prefix for g in self.groups if g.prefix)

    @property
    def managed_paths(self) -> frozenset[str]:
        return frozenset(r.target for r in self.rules) | {"externalId"}

    # -- evaluation ------------------------------------------------------------
    def attributes(self, rec: Mapping[str, str]) -> dict[str, Any]:
        """Flat desired attributes: ``{"userName": …, "name.givenName": …}``.

        A ``ref`` rule yields ``{"$ref": employee id}``, resolved by the planner.
        """
        out: dict[str, Any] = {"externalId": rec[self.source.key]}
        for r in self.rules:
            if r.source == "ref":
                v = (rec.get(r.column) or "").strip()
                out[r.target] = {"$ref": v} if v else None
            else:
                out[r.target] = r.value(rec)
        return out

    def refs(self, rec: Mapping[str, str]) -> set[str]:
        """Employee ids this record refers to (its manager)."""
        return {
            v for r in self.rules if r.source == "ref" and (v := (rec.get(r.column) or "").strip())
        }

    def groups_for(self, rec: Mapping[str, str]) -> dict[str, str]:
        """Desired groups of a record: externalId → displayName."""
        out: dict[str, str] = {}
        for g in self.groups:
            if g.when is not None and not g.when.holds(rec):
                continue
            ext = g.external_id.render(rec).strip()
            name = g.display_name.render(rec).strip()
            if ext and name and ext != g.prefix:
                out[ext] = name
        return out

    def state(self, rec: Mapping[str, str], today: date) -> State:
        lc = self.lifecycle
        if self.scope_include and not any(c.holds(rec) for c in self.scope_include):
            return State("out_of_scope", "out of scope: no include rule matches")
        for i, c in enumerate(self.scope_exclude):
            if c.holds(rec):
                return State("out_of_scope", f"out of scope: exclude rule {i + 1} matches")
        status = (rec.get(self.source.status) or "").strip()
        cat = lc.category(status)
        eff = (rec.get(lc.effective_date) or "").strip() if lc.effective_date else ""
        if cat == "terminated":
            if eff and date.fromisoformat(eff) > today:
                return State("active", f"{status} effective {eff} (future)", eff)
            delete = False
            if lc.delete_after_days is not None and eff:
                delete = date.fromisoformat(eff) + timedelta(days=lc.delete_after_days) <= today
            return State(
                "terminated",
                f"HR status {status}" + (f" on {eff}" if eff else ""),
                eff or None,
                delete,
            )
        if cat == "suspended":
            return State("suspended", f"HR status {status}")
        if lc.start_date:
            start = (rec.get(lc.start_date) or "").strip()
            if start and date.fromisoformat(start) - timedelta(days=lc.lead_days) > today:
                return State("not_yet", f"starts {start}")
        return State("active", f"HR status {status}")


def _rule(target: str, raw: Any, path: str) -> Rule:
    where = f"user.{target}"
    _check_target(target, where, path)
    if isinstance(raw, str):
        return Rule(target, "template", template=Template.parse(raw, where, path))
    if not isinstance(raw, dict):
        raise MappingError(path, where, "an attribute rule is a template string or a mapping")
    kinds = [k for k in ("from", "constant", "template", "ref") if k in raw]
    if len(kinds) != 1:
        raise MappingError(path, where, "give exactly one of from, constant, template, ref")
    allowed = {"from", "constant", "template", "ref", "transform", "map", "default", "when"}
    extra = set(raw) - allowed
    if extra:
        raise MappingError(path, where, f"unknown key(s) {', '.join(sorted(extra))}")
    transforms = raw.get("transform", ())
    if isinstance(transforms, str):
        transforms = (transforms,)
    for t in transforms:
        if t not in FILTERS:
            raise MappingError(
                path, where, f"unknown transform {t!r} (known: {', '.join(FILTERS)})"
            )
    table = raw.get("map")
    if table is not None and not isinstance(table, dict):
        raise MappingError(path, where, "`map` is a lookup table {from: to}")
    when = Condition.parse(raw["when"], where + ".when", path) if "when" in raw else None
    default = None if raw.get("default") is None else str(raw["default"])
    common: dict[str, Any] = {
        "transforms": tuple(transforms),
        "table": {str(k): str(v) for k, v in table.items()} if table else None,
        "default": default,
        "when": when,
    }
    kind = kinds[0]
    if kind == "constant":
        value = raw["constant"]
        if not isinstance(value, str | bool | int):
            raise MappingError(path, where, "a constant is a string, number or boolean")
        return Rule(target, "constant", constant=value, when=when)
    if kind == "template":
        return Rule(
            target, "template", template=Template.parse(str(raw["template"]), where, path), **common
        )
    if kind == "ref":
        if target != "enterprise.manager":
            raise MappingError(path, where, "`ref` is only for enterprise.manager")
        return Rule(target, "ref", column=str(raw["ref"]))
    return Rule(target, "from", column=str(raw["from"]), **common)


def _check_target(target: str, where: str, path: str) -> None:
    head, _, tail = target.partition(".")
    ok = (
        (target in TOP_LEVEL)
        or (head == "name" and tail in NAME_PARTS)
        or (head == "enterprise" and tail in ENTERPRISE_PARTS)
        or (head in MULTI and re.fullmatch(r"[a-z]+", tail or "") is not None)
    )
    if not ok:
        raise MappingError(
            path,
            where,
            "unknown SCIM attribute; use userName, displayName, title, name.givenName, "
            "emails.work, phoneNumbers.mobile, enterprise.department … (docs/mapping.md)",
        )
    if target in ("externalId", "active", "id"):
        raise MappingError(path, where, f"{target} is set by scimtrail, not by the mapping")


def _names(raw: Any, key: str, path: str) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise MappingError(path, f"lifecycle.{key}", "give a list of HR statuses")
    return frozenset(str(v) for v in raw)


def parse(data: Any, path: str = "<mapping>", sha256: str = "") -> MappingFile:
    """Validate a mapping document and build the evaluator."""
    if not isinstance(data, dict):
        raise MappingError(path, "(top)", "the mapping must be a YAML mapping")
    if data.get("version", 1) != 1:
        raise MappingError(path, "version", "only version 1 is known")
    known = {"version", "source", "scope", "lifecycle", "user", "groups"}
    extra = set(data) - known
    if extra:
        raise MappingError(path, "(top)", f"unknown section(s) {', '.join(sorted(extra))}")
    src = data.get("source") or {}
    if not isinstance(src, dict) or not src.get("key") or not src.get("status"):
        raise MappingError(path, "source", "needs `key` (the stable HR id column) and `status`")

    def _cols(k: str) -> tuple[str, ...]:
        v = src.get(k) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise MappingError(path, f"source.{k}", "give a list of column names")
        return tuple(str(x) for x in v)

    spec = SourceSpec(
        str(src["key"]),
        str(src["status"]),
        _cols("emails"),
        _cols("dates"),
        _cols("required"),
        str(src.get("date_format", "%Y-%m-%d")),
    )
    lc_raw = data.get("lifecycle") or {}
    if not isinstance(lc_raw, dict):
        raise MappingError(path, "lifecycle", "must be a mapping")
    for k, allowed in (
        ("suspended_groups", ("keep", "remove")),
        ("terminated_groups", ("keep", "remove")),
        ("missing", ("deactivate", "ignore")),
    ):
        if k in lc_raw and lc_raw[k] not in allowed:
            raise MappingError(path, f"lifecycle.{k}", f"one of {', '.join(allowed)}")
    lc = Lifecycle(
        active=_names(lc_raw.get("active", ["Active"]), "active", path),
        suspended=_names(lc_raw.get("suspended"), "suspended", path),
        terminated=_names(lc_raw.get("terminated"), "terminated", path),
        effective_date=lc_raw.get("effective_date"),
        start_date=lc_raw.get("start_date"),
        lead_days=int(lc_raw.get("lead_days", 0)),
        suspended_groups=lc_raw.get("suspended_groups", "keep"),
        terminated_groups=lc_raw.get("terminated_groups", "remove"),
        missing=lc_raw.get("missing", "deactivate"),
        delete_after_days=lc_raw.get("delete_after_days"),
    )
    if not lc.active:
        raise MappingError(path, "lifecycle.active", "at least one HR status must mean active")
    overlap = (
        (lc.active & lc.suspended) | (lc.active & lc.terminated) | (lc.suspended & lc.terminated)
    )
    if overlap:
        raise MappingError(path, "lifecycle", f"status(es) in two categories: {sorted(overlap)}")
    user = data.get("user") or {}
    if not isinstance(user, dict) or "userName" not in user:
        raise MappingError(path, "user", "needs at least a userName rule")
    rules = tuple(_rule(str(k), v, path) for k, v in user.items())
    groups_raw = data.get("groups") or []
    if not isinstance(groups_raw, list):
        raise MappingError(path, "groups", "a list of group rules")
    groups: list[GroupRule] = []
    for i, g in enumerate(groups_raw):
        where = f"groups[{i}]"
        if not isinstance(g, dict) or "displayName" not in g or "externalId" not in g:
            raise MappingError(path, where, "needs displayName and externalId templates")
        ext = Template.parse(str(g["externalId"]), where + ".externalId", path)
        if not ext.literal_prefix():
            raise MappingError(
                path,
                where + ".externalId",
                "must start with a literal prefix such as 'dept:' (it marks the groups "
                "scimtrail manages)",
            )
        groups.append(
            GroupRule(
                Template.parse(str(g["displayName"]), where + ".displayName", path),
                ext,
                Condition.parse(g["when"], where + ".when", path) if "when" in g else None,
            )
        )
    scope = data.get("scope") or {}
    if not isinstance(scope, dict):
        raise MappingError(path, "scope", "must be a mapping with include/exclude lists")
    inc = tuple(Condition.parse(c, "scope.include", path) for c in scope.get("include") or [])
    exc = tuple(Condition.parse(c, "scope.exclude", path) for c in scope.get("exclude") or [])
    return MappingFile(path, sha256, spec, rules, tuple(groups), lc, inc, exc, data)


def load(path: str | Path) -> MappingFile:
    """Read and validate a mapping file; its SHA-256 is kept for the run's evidence."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise MappingError(str(p), "(file)", f"cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise MappingError(str(p), "(file)", f"not valid YAML: {exc}") from exc
    return parse(data, str(p), hashlib.sha256(raw).hexdigest())


# -- flat attributes ⇄ SCIM payloads -------------------------------------------------
def to_payload(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A SCIM User body from flat attributes (``None`` values are left out)."""
    body: dict[str, Any] = {"schemas": [USER_SCHEMA]}
    ent: dict[str, Any] = {}
    multi: dict[str, list[dict[str, Any]]] = {}
    for path, v in flat.items():
        if v is None or isinstance(v, dict):
            continue
        head, _, tail = path.partition(".")
        if not tail:
            body[path] = v
        elif head == "name":
            body.setdefault("name", {})[tail] = v
        elif head == "enterprise":
            ent[tail] = {"value": v} if tail == "manager" else v
        elif head in MULTI:
            lst = multi.setdefault(head, [])
            lst.append({"value": v, "type": tail, "primary": not lst})
    body.update(multi)
    if ent:
        body["schemas"].append(ENTERPRISE)
        body[ENTERPRISE] = ent
    return body


def flatten(resource: Mapping[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """The managed attributes of a target User, in the flat form of :func:`to_payload`."""
    out: dict[str, Any] = {}
    ent = resource.get(ENTERPRISE) or {}
    for path in paths:
        head, _, tail = path.partition(".")
        v: Any = None
        if not tail:
            v = resource.get(path)
        elif head == "name":
            v = (resource.get("name") or {}).get(tail)
        elif head == "enterprise":
            v = ent.get(tail) if isinstance(ent, dict) else None
            if tail == "manager":
                v = v.get("value") if isinstance(v, dict) else v
        elif head in MULTI:
            for item in resource.get(head) or []:
                if isinstance(item, dict) and item.get("type") == tail:
                    v = item.get("value")
                    break
        out[path] = v if v not in ("", [], {}) else None
    return out


def patch_ops(
    changes: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """RFC 7644 PATCH operations (lowercase ops, explicit paths) setting flat attributes.

    Multi-valued attributes are replaced as a whole: the managed types from ``changes``
    and the current values of types the mapping does not manage (from ``current``).
    """
    ops: list[dict[str, Any]] = []
    multi: dict[str, dict[str, Any]] = {}
    for path, v in sorted(changes.items()):
        head, _, tail = path.partition(".")
        if head in MULTI and tail:
            multi.setdefault(head, {})[tail] = v
            continue
        if head == "enterprise":
            scim_path = f"{ENTERPRISE}:{tail}"
            if tail == "manager" and v is not None:
                v = {"value": v}
        else:
            scim_path = path
        if v is None:
            ops.append({"op": "remove", "path": scim_path})
        else:
            ops.append({"op": "replace", "path": scim_path, "value": v})
    for head, typed in multi.items():
        kept = [
            item
            for item in ((current or {}).get(head) or [])
            if isinstance(item, dict) and item.get("type") not in typed
        ]
        new = [{"value": v, "type": t} for t, v in typed.items() if v is not None]
        values = new + kept
        for i, item in enumerate(values):
            item["primary"] = i == 0
        ops.append({"op": "replace", "path": head, "value": values})
    return ops


def merge_for_put(resource: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The full resource with the flat changes applied (PUT replaces, so send everything)."""
    body = {k: v for k, v in resource.items() if k not in ("meta", "groups")}
    for op in patch_ops(changes, resource):
        path = op["path"]
        if path.startswith(ENTERPRISE + ":"):
            ent = dict(body.get(ENTERPRISE) or {})
            key = path[len(ENTERPRISE) + 1 :]
            if op["op"] == "remove":
                ent.pop(key, None)
            else:
                ent[key] = op["value"]
            body[ENTERPRISE] = ent
            schemas = list(body.get("schemas") or [USER_SCHEMA])
            if ENTERPRISE not in schemas:
                schemas.append(ENTERPRISE)
            body["schemas"] = schemas
        elif "." in path:
            head, _, tail = path.partition(".")
            sub = dict(body.get(head) or {})
            if op["op"] == "remove":
                sub.pop(tail, None)
            else:
                sub[tail] = op["value"]
            body[head] = sub
        elif op["op"] == "remove":
            body.pop(path, None)
        else:
            body[path] = op["value"]
    return body


def sample_payload(m: MappingFile, rec: Mapping[str, str]) -> dict[str, Any]:
    """The create payload for one record, references shown as-is (for check-mapping)."""
    flat = m.attributes(rec)
    body = to_payload({k: v for k, v in flat.items() if not isinstance(v, dict)})
    for k, v in flat.items():
        if isinstance(v, dict) and k == "enterprise.manager":
            body.setdefault(ENTERPRISE, {})["manager"] = {
                "value": f"<id of the account with externalId {v['$ref']!r}>"
            }
            if ENTERPRISE not in body["schemas"]:
                body["schemas"].append(ENTERPRISE)
    body["active"] = True
    return body
