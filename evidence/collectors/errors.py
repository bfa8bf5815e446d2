"""Errors raised by the evidence collectors.

The tree (under :class:`evidence.errors.ScimtrailError`; the CLI prints
``diagnostics()`` and exits 1)::

    ScimtrailError
    └── CollectorError             bad collector input; nothing was recorded
        ├── NotAGitRepository      --repo is not inside a git working tree
        ├── UnknownCommit          a commit or revision the repository does not have
        ├── MalformedJUnit         the JUnit XML cannot be parsed or is not JUnit
        └── BadDeployInput         --env / --job-url are unusable
"""

from __future__ import annotations

from evidence.errors import ScimtrailError

NOTHING = "nothing was recorded"


class CollectorError(ScimtrailError):
    """Bad input to a collector; it recorded nothing."""


class NotAGitRepository(CollectorError):
    def __init__(self, path: str, reason: str = "not a git repository") -> None:
        super().__init__(
            f"{path}: {reason}; {NOTHING}",
            "pass --repo with the path of the git working tree of the provisioning config",
        )
        self.path = path


class UnknownCommit(CollectorError):
    def __init__(self, rev: str, repo: str) -> None:
        super().__init__(
            f"commit {rev!r} is not in the git repository {repo}; {NOTHING}",
            "give a full or abbreviated commit sha that exists there (run `git fetch` in a "
            "shallow CI checkout), or point --repo at the right repository",
        )
        self.rev = rev
        self.repo = repo


class MalformedJUnit(CollectorError):
    def __init__(self, file: str, reason: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(
            f"{where}: not a usable JUnit XML report: {reason}; {NOTHING}",
            "pass the file written by `pytest --junitxml=FILE` (or another JUnit XML producer)",
        )
        self.file = file
        self.line = line


class BadDeployInput(CollectorError):
    def __init__(self, field: str, value: str, expected: str) -> None:
        super().__init__(f"{field} {value!r} is unusable: expected {expected}; {NOTHING}")
        self.field = field
