"""pytest plugin: record the session as a ``test.run`` entry, when asked.

Registered through the ``pytest11`` entry point, so it loads with pytest, but it does
nothing unless ``--scimtrail-db URL`` (or ``SCIMTRAIL_TEST_EVIDENCE_DB``) is given::

    pytest --scimtrail-db ./scimtrail.db [--scimtrail-commit SHA] [--scimtrail-suite NAME]

The commit defaults to ``HEAD`` of the git repository pytest is run in; a
dirty working tree is recorded as ``dirty: true`` (reports then do not count the
run as testing that commit). The ledger is opened before any test runs, so a wrong
URL stops the session at once instead of losing the evidence at the end. Counts
follow JUnit: a test whose setup or teardown fails is an error, xfail is skipped.
Nothing heavy is imported unless the plugin is switched on.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from evidence.ledger import Ledger

ENV_DB = "SCIMTRAIL_TEST_EVIDENCE_DB"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scimtrail", "record this test run as scimtrail evidence")
    group.addoption(
        "--scimtrail-db",
        default=None,
        metavar="URL",
        help=f"Record the session as a test.run entry in this ledger (SQLite path or URL). "
        f"Off unless given (or ${ENV_DB} is set).",
    )
    group.addoption(
        "--scimtrail-commit",
        default=None,
        metavar="SHA",
        help="The commit under test (default: HEAD of the git repository pytest runs in).",
    )
    group.addoption("--scimtrail-suite", default=None, metavar="NAME", help="Suite name to record.")


def pytest_configure(config: pytest.Config) -> None:
    db = config.getoption("scimtrail_db") or os.environ.get(ENV_DB)
    if not db or getattr(config, "workerinput", None) is not None:  # xdist workers: no
        return
    config.pluginmanager.register(_Recorder(config, str(db)), "scimtrail-recorder")


class _Recorder:
    def __init__(self, config: pytest.Config, db: str) -> None:
        from evidence.collectors.common import open_repo, resolve_commit
        from evidence.errors import ScimtrailError
        from evidence.ledger import Ledger

        self.config = config
        try:
            repo = open_repo(str(config.invocation_params.dir))
            commit = resolve_commit(repo, config.getoption("scimtrail_commit") or "HEAD")
            self.commit = commit.hexsha
            self.dirty = bool(repo.is_dirty(untracked_files=False))
            self.ledger: Ledger = Ledger.open(db)
        except ScimtrailError as exc:
            raise pytest.UsageError(f"scimtrail: {exc.diagnostics()}") from exc
        self.suite = config.getoption("scimtrail_suite") or config.rootpath.name
        self.outcomes: dict[str, str] = {}
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.recorded: int | None = None
        self.error: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        current = self.outcomes.get(nodeid)
        if report.when == "call":
            if hasattr(report, "wasxfail"):
                outcome = "passed" if report.passed else "skipped"
            else:
                outcome = report.outcome
            if current != "error":
                self.outcomes[nodeid] = outcome
        elif report.failed:
            self.outcomes[nodeid] = "error"
        elif report.skipped and current is None:
            self.outcomes[nodeid] = "skipped"
        elif current is None:
            self.outcomes.setdefault(nodeid, "passed")

    def payload(self) -> dict[str, Any]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for outcome in self.outcomes.values():
            counts[outcome if outcome in counts else "failed"] += 1
        failed = sorted(n for n, o in self.outcomes.items() if o in ("failed", "error"))
        tests = len(self.outcomes)
        return {
            "commit": self.commit,
            "suite": self.suite,
            "tests": tests,
            "failures": counts["failed"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "passed": tests > 0 and counts["failed"] == 0 and counts["error"] == 0,
            "duration_s": round(time.monotonic() - self.started, 3),
            "started_at": self.started_at,
            "source": "pytest-plugin",
            "dirty": self.dirty,
            "failed_tests": failed[:200],
        }

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from evidence.collectors.common import default_actor
        from evidence.errors import ScimtrailError

        try:
            out = self.ledger.append("test.run", self.payload(), actor=default_actor())
            self.recorded = out.seq
        except ScimtrailError as exc:
            self.error = exc.diagnostics()
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        finally:
            self.ledger.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.recorded is not None:
            terminalreporter.write_line(
                f"scimtrail: recorded test run of {self.commit[:12]} as ledger seq {self.recorded}"
            )
        elif self.error is not None:
            terminalreporter.write_line(f"scimtrail: FAILED to record the test run: {self.error}")
