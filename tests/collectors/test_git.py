"""The git collector against real repositories made in the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import git
import pytest

from evidence.collectors.errors import NotAGitRepository, UnknownCommit
from evidence.collectors.git import collect_git
from evidence.ledger import Ledger
from tests.collectors.conftest import Repo


def _commits(ledger: Ledger) -> list[dict]:
    return [e.payload for e in ledger.entries(kind="git.commit")]


def test_commits_touching_the_paths_are_recorded_oldest_first_and_only_once(
    ledger: Ledger, git_repo: Repo
) -> None:
    done = collect_git(ledger, git_repo.path, paths=["mapping.yaml", "provisioner/"])
    shas = git_repo.shas
    assert done.items == (shas["initial"], shas["reviewed"], shas["feature"], shas["merge"])
    again = collect_git(ledger, git_repo.path, paths=["mapping.yaml", "provisioner/"])
    assert (again.recorded, again.skipped) == ((), 4)
    assert [p["sha"] for p in _commits(ledger)] == list(done.items)
    everything = collect_git(ledger, git_repo.path)
    assert set(everything.items) == {shas["docs"], shas["docs2"]}


def test_a_commit_entry_holds_author_files_approvals_and_signature(
    ledger: Ledger, git_repo: Repo
) -> None:
    collect_git(ledger, git_repo.path, paths=["mapping.yaml"])
    by_sha = {p["sha"]: p for p in _commits(ledger)}
    reviewed = by_sha[git_repo.shas["reviewed"]]
    assert reviewed["author"] == "Alice"
    assert reviewed["author_email"] == "alice@example.com"
    assert reviewed["files"] == ["mapping.yaml"]
    assert reviewed["parents"] == [git_repo.shas["initial"]]
    assert reviewed["approvals"] == [
        {"kind": "Reviewed-By", "name": "Bob", "email": "bob@example.com"}
    ]
    assert reviewed["signature"] == {"status": "unsigned"}
    assert reviewed["merge"] is False
    assert reviewed["committed_at"].endswith("Z")
    assert reviewed["repo"] == str(git_repo.path.resolve())
    initial = by_sha[git_repo.shas["initial"]]
    assert initial["files"] == ["README.md", "mapping.yaml"]


def test_a_merge_records_its_pull_request_and_approval(ledger: Ledger, git_repo: Repo) -> None:
    collect_git(ledger, git_repo.path, paths=["provisioner/"])
    merge = next(p for p in _commits(ledger) if p["sha"] == git_repo.shas["merge"])
    assert merge["merge"] is True
    assert merge["pull_request"] == 42
    assert merge["files"] == ["provisioner/plan.py"]
    assert [a["name"] for a in merge["approvals"]] == ["Dave"]


def test_since_limits_the_history(ledger: Ledger, git_repo: Repo) -> None:
    done = collect_git(ledger, git_repo.path, paths=["mapping.yaml"], since="2026-07-05")
    assert done.items == (git_repo.shas["reviewed"],)


def test_the_remote_url_is_recorded_without_credentials(ledger: Ledger, git_repo: Repo) -> None:
    canary = "ghp_CANARY0000000000000000000000000000"
    git_repo.repo.create_remote(
        "origin", f"https://x-access-token:{canary}@github.com/acme/prov.git"
    )
    collect_git(ledger, git_repo.path, paths=["mapping.yaml"])
    payloads = _commits(ledger)
    assert {p["repo"] for p in payloads} == {"https://github.com/acme/prov.git"}
    assert canary not in repr(payloads)


def test_a_directory_that_is_not_a_repository_records_nothing(
    ledger: Ledger, tmp_path: Path
) -> None:
    with pytest.raises(NotAGitRepository, match="not a git repository"):
        collect_git(ledger, tmp_path)
    with pytest.raises(NotAGitRepository, match="no such directory"):
        collect_git(ledger, tmp_path / "missing")
    assert ledger.size() == 0


def test_an_unknown_revision_records_nothing(ledger: Ledger, git_repo: Repo) -> None:
    with pytest.raises(UnknownCommit, match="deadbeef") as err:
        collect_git(ledger, git_repo.path, rev="deadbeef")
    assert "nothing was recorded" in err.value.diagnostics()
    assert ledger.size() == 0


def test_signature_status_is_checked_by_git(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    """An SSH-signed commit verifies as good with its key and signer; others are unsigned."""
    path = tmp_path / "signed"
    repo = git.Repo.init(path, initial_branch="main")
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key),
                    "-C", "signer@example.com"], check=True)  # fmt: skip
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"signer@example.com {key.with_suffix('.pub').read_text()}")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Signer")
        cw.set_value("user", "email", "signer@example.com")
        cw.set_value("gpg", "format", "ssh")
        cw.set_value("user", "signingkey", str(key.with_suffix(".pub")))
        cw.set_value("gpg.ssh", "allowedSignersFile", str(allowed))
    (path / "mapping.yaml").write_text("a: 1\n")
    repo.git.add("mapping.yaml")
    repo.git.commit("-S", "-m", "Signed change")
    (path / "mapping.yaml").write_text("a: 2\n")
    repo.git.commit("-a", "--no-gpg-sign", "-m", "Unsigned change")
    collect_git(sqlite_ledger, path)
    sigs = [p["signature"] for p in _commits(sqlite_ledger)]
    assert sigs[0]["status"] == "good"
    assert sigs[0]["signer"] == "signer@example.com"
    assert sigs[0]["key"].startswith("SHA256:")
    assert sigs[1] == {"status": "unsigned"}


def test_a_reviewed_merge_vouches_for_the_branch_commits_it_brought_in(
    ledger: Ledger, git_repo: Repo
) -> None:
    """Carol's branch commit has no trailer, but PR #42 that merged it was approved by Dave."""
    from reports.coverage import compute_coverage
    from reports.periods import parse_period

    collect_git(ledger, git_repo.path, paths=["mapping.yaml", "provisioner/"])
    merge = next(p for p in _commits(ledger) if p["sha"] == git_repo.shas["merge"])
    assert merge["merged_commits"] == [git_repo.shas["feature"]]
    cov = compute_coverage(ledger, parse_period("2026-Q3"), "nca-ecc-2", verify=False)
    approved = next(p for p in cov.control("ORG-CHG-03").result.parts
                    if p.rule == "config-changes-approved")  # fmt: skip
    assert (approved.population, approved.exceptions) == (3, 0)
    details = {f.subject[:12]: f.detail for f in approved.rows}
    assert details[git_repo.shas["feature"][:12]] == "merged by PR #42, approved by Dave"
    assert details[git_repo.shas["reviewed"][:12]] == "approved by Bob"
