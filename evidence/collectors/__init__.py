"""Collectors: record git commits, test runs and deployments in the ledger, idempotently.

Each collector validates all of its input first and appends in one batch, so bad
input (not a git repository, an unknown commit, malformed JUnit XML) records
nothing; running a collector twice adds nothing the second time, and neither do two
collectors racing (``Ledger.append_once`` repeats the check under the write lock).

    collect_git(ledger, repo, paths=(), since=None, rev="HEAD") -> Collected   (git.py)
    record_junit(ledger, junit_xml, commit, repo=".") -> Collected              (junit.py)
    record_deploy(ledger, env, commit, job_url, repo=".") -> Collected          (deploy.py)
    pytest --scimtrail-db URL                                                   (pytest_plugin.py)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Collected:
    """What a collector did: seqs it appended, and how many items were already there."""

    kind: str
    recorded: tuple[int, ...]
    skipped: int
    items: tuple[str, ...]  # what was recorded: shas, junit digests, deploy keys

    def describe(self) -> str:
        noun = {"git.commit": "commit", "test.run": "test run", "deploy": "deployment"}[self.kind]
        plural = "s" if len(self.recorded) != 1 else ""
        text = f"recorded {len(self.recorded)} {noun}{plural}"
        if self.recorded:
            first, last = self.recorded[0], self.recorded[-1]
            text += f" (seq {first})" if first == last else f" (seq {first}..{last})"
        if self.skipped:
            text += f"; {self.skipped} already in the ledger"
        return text
