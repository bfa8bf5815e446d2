"""Coverage: which requirements are covered in a period, by what evidence, where the gaps are.

Public API of the reporting layer (used by the CLI and by the audit-pack builder)::

    from reports.controls import load_catalogue            # Catalogue (validated YAML)
    from reports.periods import parse_period, resolve_period, Period
    from reports.frames import load_frames                 # one streaming read → Frames
    from reports.coverage import compute_coverage          # → Coverage
    from reports.metrics import compute_metrics, Sla       # → Metrics

    period = parse_period("2026-Q3")
    frames = load_frames(ledger, period)                   # optional: share one read
    cov = compute_coverage(ledger, period, framework="nca-ecc-2", frames=frames)
    met = compute_metrics(ledger, period, sla=cov.sla, frames=frames)

    cov.requirements   # tuple[RequirementStatus]: id, ref, text, status, reason, counts, mappings
    cov.controls       # tuple[ControlStatus]: id, title, aliases, status, reason, counts, result
    cov.operations     # tuple[OperationRow]: operation → requirements → entries, commits,
                       #   test runs, deployments (the computed operation → evidence table)
    cov.find(id)       # a RequirementStatus or ControlStatus by id (raises UnknownId)
    cov.control(id), cov.requirement(id)                   # typed variants of find
    cov.explain(id)    # the deciding rows (Finding: seq, kind, ts, subject, outcome, detail)
    cov.summary()      # {"covered": n, "partial": n, "not covered": n, "not tested": n}
    cov.ledger_entries, cov.ledger_head, cov.catalogue_digest, cov.sla   # provenance (IPE)
    cov.as_dict()      # JSON-ready, stable key order
    met.summary(), met.lag, met.breaches, met.failed_operations, met.orphans,
    met.untested_changes, met.leaver_rows

Statuses are :class:`reports.rules.Status`: covered / partial / not covered / not tested.
A control's status is its evidence rule's; a requirement's comes from the controls
mapped to it (a *covered* control behind a *partial* mapping gives *partial*), or —
for a requirement with sub-requirements and no direct mapping — from its children
(all-of). A requirement no control maps to is *not covered*: scimtrail has no
evidence for it, and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidence import query
from evidence.ledger import Ledger
from reports.controls import Catalogue, Framework, InternalControl, Requirement, load_catalogue
from reports.errors import UnknownFramework, UnknownId
from reports.frames import Frames, load_frames
from reports.metrics import Sla, _same_commit
from reports.periods import Period
from reports.rules import Context, Finding, RuleResult, Status, combine_all, evaluate

OPERATION_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("create", ("create",)),
    ("update", ("update",)),
    ("deactivate", ("deactivate", "delete")),
    ("reactivate", ("reactivate",)),
    ("group membership", ("membership_add", "membership_remove", "group_create")),
)


@dataclass(frozen=True, slots=True)
class ControlStatus:
    id: str
    title: str
    version: int
    owner: str
    frequency: str
    type: str
    key: bool
    aliases: tuple[str, ...]
    status: Status
    reason: str
    population: int
    passed: int
    exceptions: int
    requirements: tuple[str, ...]
    result: RuleResult

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "control",
            "title": self.title,
            "version": self.version,
            "owner": self.owner,
            "frequency": self.frequency,
            "type": self.type,
            "key": self.key,
            "aliases": list(self.aliases),
            "status": self.status.value,
            "reason": self.reason,
            "population": self.population,
            "passed": self.passed,
            "exceptions": self.exceptions,
            "requirements": list(self.requirements),
            "result": self.result.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class MappingStatus:
    control: str
    relationship: str
    coverage: str
    control_status: Status
    contribution: Status
    rationale: str


@dataclass(frozen=True, slots=True)
class RequirementStatus:
    id: str
    framework: str
    ref: str
    title: str
    text: str
    text_kind: str
    status: Status
    reason: str
    population: int
    passed: int
    exceptions: int
    mappings: tuple[MappingStatus, ...]
    children: tuple[str, ...]
    content_hash: str  # SHA-256 of the requirement id and text it was judged against

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "requirement",
            "framework": self.framework,
            "ref": self.ref,
            "title": self.title,
            "text": self.text,
            "text_kind": self.text_kind,
            "content_hash": self.content_hash,
            "status": self.status.value,
            "reason": self.reason,
            "population": self.population,
            "passed": self.passed,
            "exceptions": self.exceptions,
            "mappings": [
                {
                    "control": m.control,
                    "relationship": m.relationship,
                    "coverage": m.coverage,
                    "control_status": m.control_status.value,
                    "contribution": m.contribution.value,
                    "rationale": m.rationale,
                }
                for m in self.mappings
            ],
            "children": list(self.children),
        }


@dataclass(frozen=True, slots=True)
class OperationRow:
    """One row of the operation → requirement → evidence table (computed, never typed in)."""

    operation: str
    scim_operations: tuple[str, ...]
    controls: tuple[str, ...]
    requirements: tuple[str, ...]
    entries: int  # successful exchanges in the period
    failed: int
    sample_seqs: tuple[int, ...]
    commits: tuple[str, ...]  # config commits of the runs that made these exchanges
    test_runs: tuple[int, ...]  # seqs of passing test.run entries on those commits
    deployments: tuple[str, ...]  # "env job_url" of deploy entries of those commits

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "scim_operations": list(self.scim_operations),
            "controls": list(self.controls),
            "requirements": list(self.requirements),
            "entries": self.entries,
            "failed": self.failed,
            "sample_seqs": list(self.sample_seqs),
            "commits": list(self.commits),
            "test_runs": list(self.test_runs),
            "deployments": list(self.deployments),
        }


@dataclass(frozen=True, slots=True)
class Coverage:
    period: Period
    framework: str | None
    catalogue_digest: str
    ledger_entries: int
    ledger_head: str  # Merkle root of the ledger when the report was computed (hex)
    sla: Sla
    frameworks: tuple[Framework, ...]  # in scope: name, version, source, retrieval date
    requirements: tuple[RequirementStatus, ...]
    controls: tuple[ControlStatus, ...]
    operations: tuple[OperationRow, ...]

    def find(self, item_id: str) -> RequirementStatus | ControlStatus:
        for r in self.requirements:
            if r.id == item_id:
                return r
        for c in self.controls:
            if c.id == item_id:
                return c
        raise UnknownId(item_id)

    def control(self, control_id: str) -> ControlStatus:
        item = self.find(control_id)
        if not isinstance(item, ControlStatus):
            raise UnknownId(control_id)
        return item

    def requirement(self, req_id: str) -> RequirementStatus:
        item = self.find(req_id)
        if not isinstance(item, RequirementStatus):
            raise UnknownId(req_id)
        return item

    def explain(self, item_id: str) -> list[tuple[str, Finding]]:
        """The rows that decided ``item_id``: (rule id, finding), exceptions first."""
        item = self.find(item_id)
        if isinstance(item, ControlStatus):
            results = [item.result]
        else:
            by_id = {c.id: c for c in self.controls}
            results = [by_id[m.control].result for m in item.mappings if m.control in by_id]
            for child in item.children:
                sub = self.find(child)
                if isinstance(sub, RequirementStatus):
                    results += [by_id[m.control].result for m in sub.mappings if m.control in by_id]
        out: list[tuple[str, Finding]] = []
        seen: set[tuple[str, int | None, str, str]] = set()
        for res in results:
            for rule, f in _walk(res):
                key = (rule, f.seq, f.subject, f.detail)
                if key not in seen:
                    seen.add(key)
                    out.append((rule, f))
        out.sort(key=lambda rf: rf[1].outcome != "exception")
        return out

    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for r in self.requirements:
            counts[r.status.value] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.as_dict(),
            "framework": self.framework,
            "catalogue_sha256": self.catalogue_digest,
            "ledger_entries": self.ledger_entries,
            "ledger_head": self.ledger_head,
            "sla": self.sla.as_dict(),
            "frameworks": [
                {
                    "id": f.id,
                    "name": f.name,
                    "version": f.version,
                    "publisher": f.publisher,
                    "source": f.source,
                    "retrieved": f.retrieved,
                    "text_kind": f.text_kind,
                    "note": f.note,
                }
                for f in self.frameworks
            ],
            "summary": self.summary(),
            "requirements": [r.as_dict() for r in self.requirements],
            "controls": [c.as_dict() for c in self.controls],
            "operations": [o.as_dict() for o in self.operations],
        }


def _walk(res: RuleResult) -> list[tuple[str, Finding]]:
    out = [(res.rule, f) for f in res.rows]
    for p in res.parts:
        out += _walk(p)
    return out


def frameworks(catalogue: Catalogue) -> list[str]:
    return list(catalogue.frameworks)


def sla_of(catalogue: Catalogue) -> Sla:
    """The deprovisioning SLA from the control whose rule checks leavers."""
    for c in catalogue.controls.values():
        rule = catalogue.rules.get(c.evidence)
        if rule is not None and getattr(rule, "check", None) == "leavers_within_sla":
            return Sla.from_parameters({**rule.params, **c.parameters})  # type: ignore[union-attr]
    return Sla()


def compute_coverage(
    ledger: Ledger,
    period: Period,
    framework: str | None = None,
    *,
    catalogue: Catalogue | None = None,
    frames: Frames | None = None,
    verify: bool = True,
) -> Coverage:
    """Evaluate every internal control over ``period`` and roll up to requirements.

    ``verify`` re-walks the whole hash chain for the logging control (seconds per
    million entries); without it that check reports *not tested*.
    """
    cat = catalogue if catalogue is not None else load_catalogue()
    if framework is not None and framework not in cat.frameworks:
        raise UnknownFramework(framework, list(cat.frameworks))
    frames = frames if frames is not None else load_frames(ledger, period)
    ctx = Context(ledger, frames, verify)
    reqs = [r for r in cat.requirements.values() if framework is None or r.framework == framework]
    in_scope = {r.id for r in reqs}
    controls: dict[str, ControlStatus] = {}
    for c in cat.controls.values():
        mapped = tuple(m.requirement for m in cat.mappings_from(c.id) if m.requirement in in_scope)
        if framework is not None and not mapped:
            continue
        controls[c.id] = _control_status(cat, c, ctx, mapped)
    req_status: dict[str, RequirementStatus] = {}
    for r in reversed(reqs):  # children after parents in files: resolve children first
        req_status[r.id] = _requirement_status(cat, r, controls, req_status)
    st = ctx.stats or query.stats(ledger)
    return Coverage(
        period=period,
        framework=framework,
        catalogue_digest=cat.digest,
        ledger_entries=st.count,
        ledger_head=ledger.head().root,
        sla=sla_of(cat),
        frameworks=tuple(
            f for f in cat.frameworks.values() if framework is None or f.id == framework
        ),
        requirements=tuple(req_status[r.id] for r in reqs),
        controls=tuple(controls.values()),
        operations=tuple(operation_table(cat, frames, in_scope)),
    )


def _control_status(
    cat: Catalogue, c: InternalControl, ctx: Context, mapped: tuple[str, ...]
) -> ControlStatus:
    res = evaluate(cat, c.evidence, ctx, c.parameters)
    return ControlStatus(
        c.id,
        c.title,
        c.version,
        c.owner,
        c.frequency,
        c.type,
        c.key,
        tuple(a.name for a in c.aliases),
        res.status,
        res.reason,
        res.population,
        res.passed,
        res.exceptions,
        mapped,
        res,
    )


def _contribution(control: Status, coverage: str) -> Status:
    if control is Status.covered and coverage == "partial":
        return Status.partial
    return control


def _requirement_status(
    cat: Catalogue,
    r: Requirement,
    controls: Mapping[str, ControlStatus],
    done: Mapping[str, RequirementStatus],
) -> RequirementStatus:
    maps = []
    for m in cat.mappings_to(r.id):
        cs = controls.get(m.control)
        if cs is None:
            continue
        maps.append(
            MappingStatus(
                m.control,
                m.relationship,
                m.coverage,
                cs.status,
                _contribution(cs.status, m.coverage),
                m.rationale,
            )
        )
    children = tuple(ch.id for ch in cat.children(r.id) if ch.id in done)
    if maps:
        parts = [m.contribution for m in maps]
        status = _combine_mappings(parts)
        reason = "; ".join(
            f"{m.control} {m.control_status.value}"
            + (
                " (partial mapping)"
                if m.coverage == "partial" and m.control_status is Status.covered
                else ""
            )
            + (f": {controls[m.control].reason}" if m.control_status is not Status.covered else "")
            for m in maps
        )
        pop = sum(controls[m.control].population for m in maps)
        passed = sum(controls[m.control].passed for m in maps)
        exc = sum(controls[m.control].exceptions for m in maps)
    elif children:
        kids = [done[c] for c in children]
        status = combine_all([k.status for k in kids])
        counts = {s: sum(1 for k in kids if k.status is s) for s in Status}
        reason = "sub-requirements: " + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        pop = sum(k.population for k in kids)
        passed = sum(k.passed for k in kids)
        exc = sum(k.exceptions for k in kids)
    else:
        status = Status.not_covered
        reason = "no internal control maps to this requirement: scimtrail holds no evidence for it"
        pop = passed = exc = 0
    return RequirementStatus(
        r.id,
        r.framework,
        r.ref,
        r.title,
        r.text,
        r.text_kind,
        status,
        reason,
        pop,
        passed,
        exc,
        tuple(maps),
        children,
        r.content_hash,
    )


def _combine_mappings(parts: list[Status]) -> Status:
    tested = [p for p in parts if p is not Status.not_tested]
    if not tested:
        return Status.not_tested
    if Status.covered in tested and Status.not_covered not in tested:
        return Status.covered if all(p is Status.covered for p in tested) else Status.partial
    if all(p is Status.not_covered for p in tested):
        return Status.not_covered
    return Status.partial


def operation_table(cat: Catalogue, frames: Frames, in_scope: set[str]) -> list[OperationRow]:
    """Operation → requirements → ledger entries, config commits, tests and deployments."""
    ex = frames.exchanges
    run_commit = dict(zip(frames.runs["run_id"], frames.runs["git_commit"], strict=True))
    tests = frames.tests[frames.tests["passed"]] if not frames.tests.empty else frames.tests
    rows = []
    for label, ops in OPERATION_GROUPS:
        controls = sorted({c.id for op in ops for c in cat.controls_for_operation(op)})
        reqs = sorted(
            {
                m.requirement
                for cid in controls
                for m in cat.mappings_from(cid)
                if m.requirement in in_scope
            }
        )
        sel = ex[ex["operation"].isin(ops)]
        ok = sel[sel["outcome"] == "ok"]
        n = len(ok)
        idx = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1}) if n else []
        seqs = ok["seq"].to_numpy()
        samples = tuple(int(seqs[i]) for i in idx)
        commits = sorted(
            {
                str(run_commit[r])
                for r in ok["run_id"].dropna().unique()
                if run_commit.get(r) is not None
            }
        )
        test_runs = sorted(
            int(s)
            for s, c in zip(tests["seq"], tests["commit"], strict=True)
            if any(_same_commit(c, k) for k in commits)
        )
        deploys = sorted(
            f"{e} {u}"
            for e, u, c in zip(
                frames.deploys["env"],
                frames.deploys["job_url"],
                frames.deploys["commit"],
                strict=True,
            )
            if any(_same_commit(c, k) for k in commits)
        )
        rows.append(
            OperationRow(
                label,
                ops,
                tuple(controls),
                tuple(reqs),
                n,
                int((sel["outcome"] == "failed").sum()),
                samples,
                tuple(commits),
                tuple(test_runs),
                tuple(deploys),
            )
        )
    return rows
