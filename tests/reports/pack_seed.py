"""Seed a ledger with a small, realistic provisioning history (docs/evidence-kinds.md shapes).

Used by the pack tests before (and independently of) the provisioner and collectors:
joiners with mixed Arabic/Latin names, movers, leavers (one deprovisioned late, one with
no HR date), a rejected HR row, a failed-then-retried operation, two config commits (one
used before its passing test) and their test runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from evidence.ledger import Ledger
from evidence.model import NewEntry

TARGET = {"name": "demo-app", "url": "http://127.0.0.1:8999/scim/v2"}
NAMES = [
    "محمد العتيبي", "Sarah Johnson", "نورة Al-Qahtani", "Omar Farouk", "فاطمة الزهراء",
    "Liam O'Brien", "عبدالله بن سعيد", "Chen Wei", "Aisha Rahman", "Jean-Luc Picard",
]  # fmt: skip
C1 = "1111111111111111111111111111111111111111"
C2 = "2222222222222222222222222222222222222222"


@dataclass(frozen=True, slots=True)
class Seeded:
    joiners: int
    movers: int
    leavers: int
    late_leaver: str
    junit: bytes


def _ext(i: int) -> str:
    return f"E{1000 + i}"


def _exchange(
    op: str,
    i: int,
    *,
    plan: str,
    hr: dict[str, Any] | None = None,
    outcome: str = "ok",
    attempt: int = 1,
    active: bool = True,
) -> dict[str, Any]:
    name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}")
    method = {"create": "POST", "update": "PATCH", "deactivate": "PATCH"}[op]
    url = TARGET["url"] + ("/Users" if op == "create" else f"/Users/u-{i}")
    status = {"create": 201, "update": 200, "deactivate": 200}[op] if outcome == "ok" else 503
    return {
        "operation": op, "resource_type": "User", "external_id": _ext(i),
        "employee_id": _ext(i), "scim_id": f"u-{i}", "plan_hash": plan, "attempt": attempt,
        "outcome": outcome,
        "request": {"method": method, "url": url,
                    "headers": {"Authorization": "Bearer canary-secret-token"},
                    "body": {"userName": name, "externalId": _ext(i)}},
        "response": {"status": status, "headers": {},
                     "body": {"id": f"u-{i}", "userName": name, "active": active}},
        "latency_ms": 12, "hr": hr,
    }  # fmt: skip


def seed(ledger: Ledger, *, people: int = 24, today: date | None = None) -> Seeded:
    """Append one quarter's worth of evidence in a few runs; entries get the ledger's ts."""
    today = today or datetime.now(UTC).date()
    junit = (
        b'<?xml version="1.0"?><testsuite name="provisioner" tests="42" failures="0"></testsuite>\n'
    )
    junit_sha = hashlib.sha256(junit).hexdigest()
    stamp = (today - timedelta(days=3)).isoformat() + "T09:00:00Z"
    batch: list[NewEntry] = [
        NewEntry("git.commit", {
            "repo": "provisioning-config", "sha": C1, "parents": [], "author": "Huda Al-Harbi",
            "author_email": "huda@example.com", "authored_at": stamp, "committer": "Huda",
            "committer_email": "huda@example.com", "committed_at": stamp,
            "message": "Map department to enterprise extension", "files": ["mapping.yaml"],
            "signature": {"status": "none"}, "merge": False}, "collector"),
        NewEntry("test.run", {
            "commit": C1, "suite": "provisioner", "tests": 42, "failures": 0, "errors": 0,
            "skipped": 0, "passed": True, "duration_s": 3.2, "junit_sha256": junit_sha,
            "source": "junit", "failed_tests": []}, "ci"),
        NewEntry("git.commit", {
            "repo": "provisioning-config", "sha": C2, "parents": [C1], "author": "Bob Smith",
            "author_email": "bob@example.com", "authored_at": stamp, "committer": "Bob",
            "committer_email": "bob@example.com", "committed_at": stamp,
            "message": "Hotfix: title mapping", "files": ["mapping.yaml"],
            "signature": {"status": "none"}, "merge": False}, "collector"),
    ]  # fmt: skip
    ledger.append_many(batch)
    movers = list(range(0, people, 4))
    leavers = list(range(1, people, 5))
    late = _ext(leavers[1])
    for run_no, commit in ((1, C1), (2, C2)):
        run = f"run-{run_no}"
        plan = f"plan{run_no}".ljust(64, "0")
        ledger.append(
            "run.started",
            {"run_id": run, "mode": "apply", "target": TARGET,
             "source": {"path": "hr/employees.csv", "sha256": "ab" * 32, "rows": people,
                        "rejected": 1},
             "mapping": {"path": "mapping.yaml", "sha256": "cd" * 32, "git_commit": commit,
                         "git_dirty": False},
             "auth": {"method": "env"}, "scimtrail_version": "0.1.0"},
            actor="provisioner", run_id=run,
        )  # fmt: skip
        if run_no == 1:
            changes = [{"op": "create", "resource_type": "User", "external_id": _ext(i),
                        "employee_id": _ext(i), "hr": {"status": "active"}}
                       for i in range(people)]  # fmt: skip
            ledger.append("hr.rejected", {"file": "hr/employees.csv", "row": 17,
                                          "field": "email", "value": "not-an-email",
                                          "reason": "not an e-mail address"},
                          actor="provisioner", run_id=run)  # fmt: skip
            ledger.append("plan.recorded", {"plan_hash": plan, "target": "demo-app",
                                            "counts": {"create": people}, "changes": changes},
                          actor="provisioner", run_id=run)  # fmt: skip
            ledger.append_many([NewEntry("scim.exchange", _exchange("create", i, plan=plan),
                                         "provisioner", run) for i in range(people)])  # fmt: skip
        else:
            changes = [
                {
                    "op": "update",
                    "resource_type": "User",
                    "external_id": _ext(i),
                    "diff": {"department": ["Sales", "Finance"]},
                }
                for i in movers
            ]
            for i in leavers:
                eff = today - timedelta(days=6) if _ext(i) == late else today
                hr = {"status": "terminated", "effective_date": eff.isoformat()}
                changes.append({"op": "deactivate", "resource_type": "User",
                                "external_id": _ext(i), "hr": hr})  # fmt: skip
            ledger.append("plan.recorded", {"plan_hash": plan, "target": "demo-app",
                                            "counts": {"update": len(movers),
                                                       "deactivate": len(leavers)},
                                            "changes": changes},
                          actor="provisioner", run_id=run)  # fmt: skip
            ledger.append_many(
                [NewEntry("scim.exchange", _exchange("update", i, plan=plan), "provisioner", run)
                 for i in movers]
            )  # fmt: skip
            entries = []
            for i in leavers:
                eff = today - timedelta(days=6) if _ext(i) == late else today
                hr = {"status": "terminated", "effective_date": eff.isoformat()}
                if i == leavers[-1]:
                    entries.append(NewEntry("scim.exchange", _exchange(
                        "deactivate", i, plan=plan, hr=hr, outcome="failed", active=True),
                        "provisioner", run))  # fmt: skip
                entries.append(NewEntry("scim.exchange", _exchange(
                    "deactivate", i, plan=plan, hr=hr, active=False,
                    attempt=2 if i == leavers[-1] else 1), "provisioner", run))  # fmt: skip
            ledger.append_many(entries)
        ledger.append(
            "run.finished",
            {"run_id": run, "ok": True, "counts": {"requests": people}, "failures": [],
             "duration_s": 1.5},
            actor="provisioner", run_id=run,
        )  # fmt: skip
    ledger.append("test.run", {
        "commit": C2, "suite": "provisioner", "tests": 42, "failures": 0, "errors": 0,
        "skipped": 0, "passed": True, "duration_s": 3.1, "source": "junit",
        "failed_tests": []}, actor="ci")  # fmt: skip
    return Seeded(people, len(movers), len(leavers), late, junit)


__all__ = ["C1", "C2", "NAMES", "Seeded", "seed"]
