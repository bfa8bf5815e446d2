"""Record git commits of the provisioning code and config as ``git.commit`` entries.

For each commit (oldest first) touching ``paths`` (all paths when none are given):
sha, parents, author and committer with dates (UTC), message, changed files
(against the first parent), signature status (``git log %G?``), whether it is a
merge, the pull request it merged when the message says so, and approvals taken
from trailers (``Reviewed-by``, ``Approved-by``, ``Acked-by``, ``Signed-off-by`` is
*not* an approval). Commits already in the ledger (by sha) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git

from evidence.collectors import Collected
from evidence.collectors.common import (
    default_actor,
    open_repo,
    repo_label,
    resolve_commit,
)
from evidence.collectors.errors import NotAGitRepository, UnknownCommit
from evidence.ledger import Ledger
from evidence.model import NewEntry

KIND = "git.commit"
MAX_MERGED = 1000
_TRAILER = re.compile(
    r"^(Reviewed-by|Approved-by|Acked-by|Co-authored-by):\s*(.+?)\s*(?:<([^>]+)>)?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_PR = re.compile(r"Merge pull request #(\d+)|\(#(\d+)\)\s*$|See merge request [^!]*!(\d+)", re.M)
_SIG = {
    "G": "good",
    "B": "bad",
    "U": "good, unknown validity",
    "X": "good, expired signature",
    "Y": "good, expired key",
    "R": "good, revoked key",
    "E": "cannot be checked (missing key)",
    "N": "unsigned",
}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _files(repo: git.Repo, c: git.Commit) -> list[str]:
    if c.parents:
        out = repo.git.diff_tree(
            "-r", "--name-only", "--no-commit-id", c.parents[0].hexsha, c.hexsha
        )
    else:
        out = repo.git.diff_tree("-r", "--name-only", "--no-commit-id", "--root", c.hexsha)
    return sorted(line for line in out.splitlines() if line)


def _signature(repo: git.Repo, c: git.Commit) -> dict[str, Any]:
    if not getattr(c, "gpgsig", None):
        return {"status": "unsigned"}
    try:
        out = repo.git.log("-1", "--format=%G?%n%GK%n%GS", c.hexsha)
    except git.GitCommandError:
        return {"status": "signed, not checked"}
    code, key, signer = ([*out.splitlines(), "", "", ""])[:3]
    sig: dict[str, Any] = {"status": _SIG.get(code.strip(), f"unknown ({code.strip()})")}
    if key.strip():
        sig["key"] = key.strip()
    if signer.strip():
        sig["signer"] = signer.strip()
    return sig


def commit_payload(
    repo: git.Repo, c: git.Commit, label: str, scope: Sequence[str]
) -> dict[str, Any]:
    message = c.message if isinstance(c.message, str) else c.message.decode("utf-8", "replace")
    approvals = [
        {"kind": m.group(1).title(), "name": m.group(2).strip(), "email": m.group(3)}
        for m in _TRAILER.finditer(message)
        if m.group(1).lower() != "co-authored-by"
    ]
    pr = next((next(g for g in m.groups() if g) for m in _PR.finditer(message)), None)
    payload: dict[str, Any] = {
        "repo": label,
        "sha": c.hexsha,
        "parents": [p.hexsha for p in c.parents],
        "author": c.author.name,
        "author_email": c.author.email,
        "authored_at": _iso(c.authored_date),
        "committer": c.committer.name,
        "committer_email": c.committer.email,
        "committed_at": _iso(c.committed_date),
        "message": message,
        "files": _files(repo, c),
        "signature": _signature(repo, c),
        "merge": len(c.parents) > 1,
        "approvals": approvals,
        "scope": list(scope),
    }
    if pr is not None:
        payload["pull_request"] = int(pr)
    if len(c.parents) > 1:  # the commits this merge brought in (second parent side)
        brought = repo.git.rev_list(f"{c.parents[0].hexsha}..{c.parents[1].hexsha}").split()
        payload["merged_commits"] = brought[:MAX_MERGED]
    return payload


def collect_git(
    ledger: Ledger,
    repo_path: str | Path,
    *,
    paths: Sequence[str] = (),
    since: str | None = None,
    rev: str = "HEAD",
    actor: str | None = None,
) -> Collected:
    """Record the commits reachable from ``rev`` that touch ``paths``; skip known shas."""
    repo = open_repo(repo_path)
    try:
        if not repo.head.is_valid() and rev == "HEAD":
            raise NotAGitRepository(str(repo_path), "the repository has no commits yet")
        tip = resolve_commit(repo, rev)
        kwargs: dict[str, Any] = {"full_history": True}  # keep merges that brought changes in
        if since:
            kwargs["since"] = since
        commits = list(repo.iter_commits(tip.hexsha, paths=list(paths) if paths else "", **kwargs))
    except git.GitCommandError as exc:
        raise UnknownCommit(rev, str(repo_path)) from exc
    commits.reverse()  # oldest first: the ledger then reads in history order
    known = ledger.recorded_keys(KIND, _sha)  # cheap pre-filter: payloads cost git calls
    label = repo_label(repo)
    fresh = [c for c in commits if c.hexsha not in known]
    entries = [NewEntry(KIND, commit_payload(repo, c, label, paths), actor or default_actor())
               for c in fresh]  # fmt: skip
    once = ledger.append_once(entries, _sha)  # atomic with the check: racing collectors
    return Collected(
        KIND,
        tuple(a.seq for a in once.appended),
        len(commits) - len(once.recorded),
        tuple(str(e.payload["sha"]) for e in once.recorded),
    )


def _sha(payload: Any) -> Any:
    return payload.get("sha")
