"""The control catalogue: requirements, internal controls, mappings and evidence rules.

Data lives in ``controls/`` (YAML; format in ``docs/controls.md``) and is validated
on load. Three things are modelled separately, as GRC tools do:

* :class:`Requirement` — read-only framework text (NCA ECC-1/ECC-2, SOC 2, ISO/IEC
  27001 paraphrased, NIST SP 800-53, CIS v8), with source and retrieval date;
* :class:`InternalControl` — ours: owner, frequency, type, parameters, evidence rule;
* :class:`Mapping` — typed edges control → requirement (relationship, coverage,
  rationale); :class:`Crosswalk` — requirement ↔ requirement edges.

Evidence rules are :class:`Check` (a built-in test over the ledger, with parameters)
composed with :class:`AllOf` / :class:`AnyOf`. ``AllOf([])`` and ``AnyOf([])`` are
refused, as are unknown ids and composition cycles. Every error names file, line
and reason. This module loads and validates; the values live in :mod:`reports.catalogue`
and are re-exported here.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.catalogue import (
    CONTROL_TYPES,
    COVERAGES,
    FREQUENCIES,
    KNOWN_CHECKS,
    OPERATIONS,
    RELATIONSHIPS,
    Alias,
    AllOf,
    AnyOf,
    Catalogue,
    Check,
    Crosswalk,
    Framework,
    InternalControl,
    Mapping,
    Requirement,
    Rule,
)
from reports.catalogue_yaml import line_of, load_yaml
from reports.errors import (
    CatalogueError,
    CompositionCycle,
    EmptyComposition,
    UnknownReference,
)

__all__ = [
    "CONTROL_TYPES",
    "COVERAGES",
    "FREQUENCIES",
    "KNOWN_CHECKS",
    "OPERATIONS",
    "RELATIONSHIPS",
    "Alias",
    "AllOf",
    "AnyOf",
    "Catalogue",
    "Check",
    "Crosswalk",
    "Framework",
    "InternalControl",
    "Mapping",
    "Requirement",
    "Rule",
    "check_parameters",
    "default_path",
    "load_catalogue",
]


def default_path() -> Path:
    """``$SCIMTRAIL_CONTROLS``, else ``controls/`` next to the installed packages."""
    env = os.environ.get("SCIMTRAIL_CONTROLS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "controls"


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load and validate the catalogue directory; raise :class:`CatalogueError`."""
    root = Path(path) if path is not None else default_path()
    if not root.is_dir():
        raise CatalogueError(root, None, "the catalogue directory does not exist")
    files = sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yml"))
    if not files:
        raise CatalogueError(root, None, "no *.yaml files in the catalogue directory")
    b = _Builder()
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
        doc = load_yaml(f)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CatalogueError(f, 1, "a catalogue file must be a mapping at the top level")
        b.add_file(f, doc)
    return b.finish(str(root), digest.hexdigest())


class _Builder:
    def __init__(self) -> None:
        self.frameworks: dict[str, Framework] = {}
        self.requirements: dict[str, Requirement] = {}
        self.controls: dict[str, InternalControl] = {}
        self.mappings: list[Mapping] = []
        self.rules: dict[str, Rule] = {}
        self.rule_where: dict[str, tuple[Path, int | None]] = {}
        self.crosswalk: list[tuple[Path, int | None, Crosswalk]] = []
        self.control_where: dict[str, tuple[Path, int | None]] = {}

    # -- per file ---------------------------------------------------------------
    def add_file(self, f: Path, doc: dict[str, Any]) -> None:
        known = {"framework", "requirements", "controls", "mappings", "rules", "crosswalk"}
        for key in doc:
            if key not in known:
                raise CatalogueError(
                    f, line_of(doc), f"unknown top-level key {key!r}; expected {sorted(known)}"
                )
        if "requirements" in doc and "framework" not in doc:
            raise CatalogueError(f, line_of(doc), "requirements need a `framework:` block")
        if "framework" in doc:
            fw = self._framework(f, doc["framework"])
            for item in _list(f, doc, "requirements"):
                self._requirement(f, fw, item)
        for item in _list(f, doc, "controls"):
            self._control(f, item)
        for item in _list(f, doc, "mappings"):
            self._mapping(f, item)
        for item in _list(f, doc, "rules"):
            self._rule(f, item)
        for item in _list(f, doc, "crosswalk"):
            line = line_of(item)
            self.crosswalk.append(
                (
                    f,
                    line,
                    Crosswalk(
                        _str(f, item, "source"),
                        _str(f, item, "target"),
                        _enum(f, item, "relationship", RELATIONSHIPS),
                        _str(f, item, "note", ""),
                    ),
                )
            )

    def _framework(self, f: Path, d: Any) -> Framework:
        d = _dict(f, d, "framework")
        fid = _str(f, d, "id")
        if fid in self.frameworks:
            raise CatalogueError(f, line_of(d), f"framework {fid!r} is defined twice")
        fw = Framework(
            fid,
            _str(f, d, "name"),
            _str(f, d, "version"),
            _str(f, d, "publisher"),
            _str(f, d, "source"),
            _date(f, d, "retrieved"),
            _enum(f, d, "text_kind", ("verbatim", "paraphrase", "third-party rendering")),
            _str(f, d, "note", ""),
        )
        self.frameworks[fid] = fw
        return fw

    def _requirement(self, f: Path, fw: Framework, d: Any) -> None:
        d = _dict(f, d, "requirement")
        ref = _str(f, d, "ref")
        rid = f"{fw.id}:{ref}"
        if rid in self.requirements:
            raise CatalogueError(f, line_of(d), f"requirement {rid!r} is defined twice")
        parent = d.get("parent")
        text = _str(f, d, "text")
        text_ar = d.get("text_ar")
        kind = d.get("text_kind", fw.text_kind)
        body = f"{rid}\n{text}\n{text_ar or ''}".encode()
        self.requirements[rid] = Requirement(
            rid,
            fw.id,
            ref,
            _str(f, d, "title", ""),
            text,
            str(text_ar) if text_ar else None,
            str(kind),
            f"{fw.id}:{parent}" if parent else None,
            hashlib.sha256(body).hexdigest(),
            str(f),
            line_of(d),
        )

    def _control(self, f: Path, d: Any) -> None:
        d = _dict(f, d, "control")
        cid = _str(f, d, "id")
        if cid in self.controls:
            raise CatalogueError(f, line_of(d), f"internal control {cid!r} is defined twice")
        aliases = []
        for a in d.get("aliases") or []:
            a = _dict(f, a, "alias", line_of(d))
            aliases.append(
                Alias(
                    _str(f, a, "name"), bool(a.get("authoritative", False)), str(a.get("note", ""))
                )
            )
        ops = d.get("operations") or []
        for op in ops:
            if op not in OPERATIONS:
                raise CatalogueError(
                    f, line_of(d), f"control {cid}: unknown operation {op!r}; one of {OPERATIONS}"
                )
        params = d.get("parameters") or {}
        if not isinstance(params, dict):
            raise CatalogueError(f, line_of(d), f"control {cid}: parameters must be a mapping")
        check_parameters(f, line_of(d), f"control {cid}", params)
        version = d.get("version", 1)
        if not isinstance(version, int) or version < 1:
            raise CatalogueError(f, line_of(d), f"control {cid}: version must be an integer ≥ 1")
        self.controls[cid] = InternalControl(
            cid,
            version,
            _str(f, d, "title"),
            _str(f, d, "statement"),
            _str(f, d, "owner"),
            _enum(f, d, "frequency", FREQUENCIES),
            _enum(f, d, "type", CONTROL_TYPES),
            _enum(f, d, "nature", ("preventive", "detective", "corrective")),
            bool(d.get("key", False)),
            tuple(aliases),
            dict(params),
            _str(f, d, "evidence"),
            tuple(ops),
            str(f),
            line_of(d),
        )
        self.control_where[cid] = (f, line_of(d))

    def _mapping(self, f: Path, d: Any) -> None:
        d = _dict(f, d, "mapping")
        self.mappings.append(
            Mapping(
                _str(f, d, "control"),
                _str(f, d, "requirement"),
                _enum(f, d, "relationship", RELATIONSHIPS),
                _enum(f, d, "coverage", COVERAGES),
                _str(f, d, "rationale"),
                _str(f, d, "reviewer"),
                _date(f, d, "reviewed"),
                str(f),
                line_of(d),
            )
        )

    def _rule(self, f: Path, d: Any) -> None:
        d = _dict(f, d, "rule")
        rid = _str(f, d, "id")
        line = line_of(d)
        if rid in self.rules:
            raise CatalogueError(f, line, f"rule {rid!r} is defined twice")
        forms = [k for k in ("check", "all_of", "any_of") if k in d]
        if len(forms) != 1:
            raise CatalogueError(
                f, line, f"rule {rid}: give exactly one of check, all_of, any_of (found {forms})"
            )
        desc = _str(f, d, "description", "")
        rule: Rule
        if "check" in d:
            name = _str(f, d, "check")
            if name not in KNOWN_CHECKS:
                raise UnknownReference(
                    f, line, f"rule {rid}: unknown check {name!r}; known: {sorted(KNOWN_CHECKS)}"
                )
            params = d.get("params") or {}
            if not isinstance(params, dict):
                raise CatalogueError(f, line, f"rule {rid}: params must be a mapping")
            check_parameters(f, line, f"rule {rid}", params)
            rule = Check(rid, name, dict(params), desc)
        else:
            key = forms[0]
            parts = d[key]
            if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
                raise CatalogueError(f, line, f"rule {rid}: {key} must be a list of rule ids")
            if not parts:
                raise EmptyComposition(
                    f,
                    line,
                    f"rule {rid}: {key}: [] is refused (an empty composition proves nothing)",
                )
            rule = (
                AllOf(rid, tuple(parts), desc)
                if key == "all_of"
                else AnyOf(rid, tuple(parts), desc)
            )
        self.rules[rid] = rule
        self.rule_where[rid] = (f, line)

    # -- cross-file checks ------------------------------------------------------
    def finish(self, root: str, digest: str) -> Catalogue:
        for req in self.requirements.values():
            if req.parent is not None and req.parent not in self.requirements:
                raise UnknownReference(
                    req.file, req.line, f"requirement {req.id}: unknown parent {req.parent!r}"
                )
        for m in self.mappings:
            if m.control not in self.controls:
                raise UnknownReference(
                    m.file, m.line, f"mapping names unknown control {m.control!r}"
                )
            if m.requirement not in self.requirements:
                raise UnknownReference(
                    m.file, m.line, f"mapping names unknown requirement {m.requirement!r}"
                )
        seen_edges: set[tuple[str, str]] = set()
        for m in self.mappings:
            if (m.control, m.requirement) in seen_edges:
                raise CatalogueError(
                    m.file, m.line, f"mapping {m.control} → {m.requirement} is listed twice"
                )
            seen_edges.add((m.control, m.requirement))
        for f, line, cw in self.crosswalk:
            for rid in (cw.source, cw.target):
                if rid not in self.requirements:
                    raise UnknownReference(f, line, f"crosswalk names unknown requirement {rid!r}")
        for c in self.controls.values():
            if c.evidence not in self.rules:
                raise UnknownReference(
                    c.file, c.line, f"control {c.id}: unknown evidence rule {c.evidence!r}"
                )
        for rid, rule in self.rules.items():
            if isinstance(rule, AllOf | AnyOf):
                f, line = self.rule_where[rid]
                for part in rule.rules:
                    if part not in self.rules:
                        raise UnknownReference(f, line, f"rule {rid}: unknown rule {part!r}")
        self._check_cycles()
        return Catalogue(
            root,
            digest,
            self.frameworks,
            self.requirements,
            self.controls,
            tuple(self.mappings),
            self.rules,
            tuple(cw for _, _, cw in self.crosswalk),
        )

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(rid: str, path: list[str]) -> None:
            if state.get(rid) == 2:
                return
            if state.get(rid) == 1:
                loop = [*path[path.index(rid) :], rid]
                f, line = self.rule_where[rid]
                raise CompositionCycle(f, line, "rules compose in a cycle: " + " → ".join(loop))
            state[rid] = 1
            rule = self.rules[rid]
            if isinstance(rule, AllOf | AnyOf):
                for part in rule.rules:
                    visit(part, [*path, rid])
            state[rid] = 2

        for rid in self.rules:
            visit(rid, [])


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_AUTH = ("env", "file", "command", "oauth2", "literal", "none")


def check_parameters(f: Path, line: int | None, who: str, params: dict[str, Any]) -> None:
    """Parameters the built-in checks read must have the right shape (others pass through)."""

    def bad(key: str, expected: str) -> CatalogueError:
        return CatalogueError(f, line, f"{who}: parameter `{key}` must be {expected}")

    for key in ("sla_business_days", "retention_months"):
        v = params.get(key)
        if key in params and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise bad(key, "a whole number ≥ 0")
    if "timezone" in params:
        try:
            ZoneInfo(str(params["timezone"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise bad("timezone", "an IANA time zone such as Asia/Riyadh") from exc
    lists = {
        "weekend": _WEEKDAYS,
        "operations": OPERATIONS,
        "allowed_auth": _AUTH,
        "signoff_kinds": None,
        "holidays": None,
    }
    for key, allowed in lists.items():
        if key not in params:
            continue
        v = params[key]
        if not isinstance(v, list):
            raise bad(key, "a list")
        if allowed is not None:
            wrong = [
                x for x in v if str(x).lower()[: 3 if key == "weekend" else None] not in allowed
            ]
            if wrong:
                raise bad(key, f"a list of {', '.join(allowed)} (not {wrong[0]!r})")
    for h in params.get("holidays") or []:
        try:
            date.fromisoformat(str(h))
        except ValueError as exc:
            raise bad("holidays", f"a list of dates YYYY-MM-DD (not {h!r})") from exc


def _list(f: Path, doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f, line_of(doc), f"`{key}` must be a list")
    return value


def _dict(f: Path, d: Any, what: str, line: int | None = None) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise CatalogueError(f, line, f"each {what} must be a mapping, got {d!r}")
    return d


def _str(f: Path, d: dict[str, Any], key: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if value is None:
        raise CatalogueError(f, line_of(d), f"missing required field `{key}`")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CatalogueError(f, line_of(d), f"`{key}` must be text, got {type(value).__name__}")
    text = str(value).strip()
    if default is None and not text:
        raise CatalogueError(f, line_of(d), f"`{key}` must not be empty")
    return text


def _enum(f: Path, d: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = _str(f, d, key)
    if value not in allowed:
        raise CatalogueError(
            f, line_of(d), f"`{key}` is {value!r}; expected one of {', '.join(allowed)}"
        )
    return value


def _date(f: Path, d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if isinstance(value, date):
        return value.isoformat()
    text = _str(f, d, key)
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise CatalogueError(
            f, line_of(d), f"`{key}` must be a date (YYYY-MM-DD), got {text!r}"
        ) from exc
