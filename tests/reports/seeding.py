"""Build ledgers with known answers: entries of the shapes in docs/evidence-kinds.md.

The ledger stamps every entry with its sequencer clock (``Ledger.clock``); to put
events in a past quarter the tests give the ledger their own clock, the one input a
test cannot otherwise control. Everything else goes through the real append path.
"""

from __future__ import annotations

from typing import Any

from evidence.ledger import Ledger

TARGET = {"name": "app", "url": "https://scim.example.com/scim/v2"}


class Seeder:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.now = "2026-01-01T00:00:00.000000Z"
        ledger.clock = lambda: self.now

    def at(self, when: str) -> Seeder:
        """Set the ledger clock: '2026-07-06T08:00:00' (UTC)."""
        self.now = when + (".000000Z" if len(when) == 19 else "")
        return self

    def add(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        run_id: str | None = None,
        actor: str = "scimtrail",
    ) -> int:
        return self.ledger.append(kind, payload, actor=actor, run_id=run_id).seq

    def commit(
        self,
        sha: str,
        *,
        files: list[str] | None = None,
        author: str = "alice",
        approvals: list[dict[str, str]] | None = None,
        committed_at: str | None = None,
        message: str = "Change the mapping",
    ) -> int:
        return self.add(
            "git.commit",
            {
                "repo": "/srv/provisioning",
                "sha": sha,
                "parents": [],
                "author": author,
                "author_email": f"{author}@example.com",
                "authored_at": committed_at or self.now,
                "committer": author,
                "committer_email": f"{author}@example.com",
                "committed_at": committed_at or self.now,
                "message": message,
                "files": files or ["mapping.yaml"],
                "signature": {"status": "unsigned"},
                "merge": False,
                "approvals": approvals or [],
            },
            actor="collector",
        )

    def test_run(
        self, commit: str, *, passed: bool = True, tests: int = 12, dirty: bool = False
    ) -> int:
        return self.add(
            "test.run",
            {
                "commit": commit,
                "suite": "provisioning",
                "tests": tests,
                "failures": 0 if passed else 1,
                "errors": 0,
                "skipped": 0,
                "passed": passed,
                "duration_s": 1.5,
                "source": "pytest-plugin" if dirty else "junit",
                "dirty": dirty,
                "failed_tests": [] if passed else ["t::x"],
            },
            actor="ci",
        )

    def deploy(self, commit: str, env: str = "prod") -> int:
        return self.add(
            "deploy",
            {"env": env, "commit": commit, "job_url": f"https://ci.example.com/jobs/{commit[:7]}"},
            actor="ci",
        )

    def run(
        self,
        run_id: str,
        commit: str | None,
        *,
        auth: str = "env",
        mode: str = "apply",
        dirty: bool = False,
        url: str = TARGET["url"],
    ) -> int:
        return self.add(
            "run.started",
            {
                "run_id": run_id,
                "mode": mode,
                "target": {"name": "app", "url": url},
                "source": {"path": "hr.csv", "sha256": "0" * 64, "rows": 10, "rejected": 0},
                "mapping": {
                    "path": "mapping.yaml",
                    "sha256": "1" * 64,
                    "git_commit": commit,
                    "git_dirty": dirty,
                },
                "auth": {"method": auth},
                "scimtrail_version": "0.1.0",
            },
            run_id=run_id,
        )

    def exchange(
        self,
        run_id: str,
        op: str,
        ext: str,
        *,
        outcome: str = "ok",
        effective: str | None = None,
        attempt: int = 1,
        rtype: str = "User",
        status: int | None = None,
    ) -> int:
        payload: dict[str, Any] = {
            "operation": op,
            "resource_type": rtype,
            "external_id": ext,
            "employee_id": ext.upper(),
            "attempt": attempt,
            "outcome": outcome,
            "request": {"method": "POST", "url": TARGET["url"] + "/Users", "headers": {}},
            "response": {"status": status or (201 if outcome == "ok" else 500)},
            "latency_ms": 12.5,
        }
        if effective is not None:
            payload["hr"] = {"status": "terminated", "effective_date": effective}
        return self.add("scim.exchange", payload, run_id=run_id)

    def finish(self, run_id: str, *, ok: bool = True, failed: int = 0) -> int:
        requests = sum(1 for e in self.ledger.entries(kind="scim.exchange", run_id=run_id))
        return self.add(
            "run.finished",
            {
                "run_id": run_id,
                "ok": ok,
                "counts": {"requests": requests, "failed": failed},
                "failures": [],
                "duration_s": 3.0,
            },
            run_id=run_id,
        )


def seed_quarter(s: Seeder) -> None:
    """2026-Q3 with known answers.

    * config C1 is approved, tested before use and deployed; C2 is neither approved nor
      tested before the run that used it (a gap);
    * leaver u4 (effective Sunday 2026-07-05) is deactivated Monday: 1 business day, within SLA;
      leaver u5 (effective Sunday 2026-08-02) is deactivated Monday 2026-08-10: 6 business
      days (Riyadh weekend Fri/Sat), a breach;
    * create of u2 fails once and is retried successfully; update of u6 fails and stays open;
    * the access review is signed off; the last reconcile lists one orphan.
    """
    c1, c2 = "c1" * 20, "c2" * 20
    s.at("2026-06-20T09:00:00").commit(
        c1, approvals=[{"name": "bob", "email": "bob@example.com", "kind": "Reviewed-by"}]
    )
    s.at("2026-06-21T09:00:00").test_run(c1)
    s.at("2026-06-22T09:00:00").deploy(c1)
    s.at("2026-07-06T08:00:00").run("r1", c1)
    s.exchange("r1", "create", "u1")
    s.exchange("r1", "create", "u2", outcome="failed")
    s.exchange("r1", "create", "u2", attempt=2)
    s.exchange("r1", "update", "u3")
    s.exchange("r1", "deactivate", "u4", effective="2026-07-05")
    s.exchange("r1", "membership_add", "g1", rtype="Group")
    s.finish("r1")
    s.at("2026-08-09T10:00:00").commit(c2, files=["mapping.yaml", "provisioner/plan.py"])
    s.at("2026-08-10T08:00:00").run("r2", c2)
    s.exchange("r2", "deactivate", "u5", effective="2026-08-02")
    s.exchange("r2", "update", "u6", outcome="failed")
    s.finish("r2", ok=False, failed=1)
    s.at("2026-08-11T08:00:00").test_run(c2)  # after first use: too late
    s.at("2026-09-15T12:00:00").add(
        "note", {"review": "Q3 access review", "signed_off": True}, actor="ciso"
    )
    s.at("2026-09-20T12:00:00").add(
        "reconcile.report",
        {
            "target": "app",
            "orphans": [{"scim_id": "x-9", "user_name": "old.admin", "reason": "no HR record"}],
            "attribute_drift": [],
            "membership_drift": [],
            "counts": {"orphans": 1},
        },
    )
