"""What a run is given and what it returns; who ran it and from which commit."""

from __future__ import annotations

import getpass
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner.config import Target
from provisioner.plan import Plan

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


def version() -> str:
    try:
        return metadata.version("scimtrail")
    except metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
