"""Reconcile: read the whole target and report what differs from HR × mapping.

Orphans (accounts HR does not know, accounts without an externalId, people terminated
or out of scope in HR whose account is still active), attribute drift and membership
drift. Nothing is written to the target: fixing goes through plan/apply. The report is
recorded as a ``reconcile.report`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from provisioner.apply import RunContext, RunResult, _Run, read_target
from provisioner.plan import Options, Plan, build
from provisioner.sources import Source


@dataclass(slots=True)
class Report:
    target: str
    orphans: list[dict[str, Any]] = field(default_factory=list)
    attribute_drift: list[dict[str, Any]] = field(default_factory=list)
    membership_drift: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "orphans": len(self.orphans),
            "attribute_drift": len(self.attribute_drift),
            "membership_drift": len(self.membership_drift),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "orphans": self.orphans,
            "attribute_drift": self.attribute_drift,
            "membership_drift": self.membership_drift,
            "counts": self.counts,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per finding, for the table/JSON/CSV output."""
        out: list[dict[str, Any]] = []
        for o in self.orphans:
            out.append(
                {
                    "kind": "orphan",
                    "scim_id": o["scim_id"],
                    "who": o.get("user_name"),
                    "detail": o["reason"],
                }
            )
        for d in self.attribute_drift:
            detail = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in d["diff"].items())
            out.append(
                {
                    "kind": "attribute drift",
                    "scim_id": d["scim_id"],
                    "who": d["external_id"],
                    "detail": detail,
                }
            )
        for d in self.membership_drift:
            out.append(
                {
                    "kind": "membership drift",
                    "scim_id": d.get("scim_id"),
                    "who": d["external_id"],
                    "detail": f"{d['expected']} of {d['group']}",
                }
            )
        return out


def reconcile(rc: RunContext, source: Source) -> tuple[Report, RunResult]:
    rc.mode = "reconcile"
    run = _Run(rc, source)
    result: RunResult | None = None
    try:
        run.client.discover()
        state = read_target(run.client, rc.mapping)
        opts = Options(rc.today or date.today(), rc.target.adopt_by_username, False, None)
        changes, problems = build(source.records, rc.mapping, state, opts)
        report = Report(rc.target.name)
        hr_ids = {r[rc.mapping.source.key] for r in source.records}
        for u in sorted(state.users.values(), key=lambda u: u.user_name):
            if not u.external_id:
                report.orphans.append(
                    {
                        "scim_id": u.id,
                        "user_name": u.user_name,
                        "external_id": None,
                        "active": u.active,
                        "reason": "no externalId: not provisioned from HR",
                    }
                )
            elif u.external_id not in hr_ids:
                report.orphans.append(
                    {
                        "scim_id": u.id,
                        "user_name": u.user_name,
                        "external_id": u.external_id,
                        "active": u.active,
                        "reason": "not in the HR source",
                    }
                )
        for c in changes:
            if c.op == "deactivate" and c.employee_id is not None:
                report.orphans.append(
                    {
                        "scim_id": c.scim_id,
                        "user_name": c.user_name,
                        "external_id": c.external_id,
                        "active": True,
                        "reason": f"active, but {c.reason}",
                    }
                )
            elif c.op == "update":
                report.attribute_drift.append(
                    {"external_id": c.external_id, "scim_id": c.scim_id, "diff": c.diff}
                )
            elif c.op in ("membership_add", "membership_remove"):
                report.membership_drift.append(
                    {
                        "external_id": c.external_id,
                        "scim_id": c.scim_id,
                        "group": c.group,
                        "expected": "member" if c.op == "membership_add" else "not a member",
                    }
                )
        for p in problems:
            report.orphans.append(
                {
                    "scim_id": None,
                    "user_name": None,
                    "external_id": p["external_id"],
                    "reason": p["problem"],
                }
            )
        run.recorder.append("reconcile.report", report.as_dict())
        result = RunResult(rc.run_id, Plan({}, {}, {}, [], []), counts=report.counts)
        run.finish(result)
        return report, result
    except BaseException as exc:
        run.finish(result, exc)
        raise
