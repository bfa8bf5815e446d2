"""Deployment evidence."""

from __future__ import annotations

import pytest

from evidence.collectors.deploy import record_deploy
from evidence.collectors.errors import BadDeployInput, UnknownCommit
from evidence.ledger import Ledger
from tests.collectors.conftest import Repo


def test_a_deployment_is_recorded_once(ledger: Ledger, git_repo: Repo) -> None:
    sha = git_repo.shas["merge"]
    url = "https://ci.example.com/acme/prov/-/jobs/991"
    done = record_deploy(
        ledger, "prod", sha[:8], url, repo=git_repo.path, deployed_at="2026-08-03T13:00:00+03:00"
    )
    entry = ledger.get(done.recorded[0])
    assert entry.payload == {
        "env": "prod",
        "commit": sha,
        "job_url": url,
        "repo": str(git_repo.path.resolve()),
        "deployed_at": "2026-08-03T10:00:00Z",
    }
    again = record_deploy(ledger, "prod", sha, url, repo=git_repo.path)
    assert (again.recorded, again.skipped) == ((), 1)
    other = record_deploy(ledger, "staging", sha, url, repo=git_repo.path)
    assert len(other.recorded) == 1


@pytest.mark.parametrize(
    ("env", "url", "at", "match"),
    [
        ("prod", "ftp://ci.example.com/1", None, "http"),
        ("prod", "not a url", None, "http"),
        ("", "https://ci.example.com/1", None, "--env"),
        ("prod env", "https://ci.example.com/1", None, "--env"),
        ("prod", "https://ci.example.com/1", "yesterday", "ISO 8601"),
        ("prod", "https://ci.example.com/1", "2026-08-03T10:00:00", "with a zone"),
    ],
)
def test_bad_deploy_input_records_nothing(
    sqlite_ledger: Ledger, git_repo: Repo, env: str, url: str, at: str | None, match: str
) -> None:
    ledger = sqlite_ledger
    with pytest.raises(BadDeployInput, match=match):
        record_deploy(ledger, env, git_repo.shas["merge"], url, repo=git_repo.path, deployed_at=at)
    assert ledger.size() == 0


def test_a_job_url_with_credentials_is_refused_without_echoing_them(
    ledger: Ledger, git_repo: Repo
) -> None:
    canary = "glpat-CANARY1234567890"
    with pytest.raises(BadDeployInput) as err:
        record_deploy(
            ledger,
            "prod",
            git_repo.shas["merge"],
            f"https://ci:{canary}@ci.example.com/jobs/1",
            repo=git_repo.path,
        )
    assert canary not in err.value.diagnostics()
    assert ledger.size() == 0


def test_an_unknown_commit_records_nothing(ledger: Ledger, git_repo: Repo) -> None:
    with pytest.raises(UnknownCommit):
        record_deploy(ledger, "prod", "f" * 40, "https://ci.example.com/1", repo=git_repo.path)
    assert ledger.size() == 0
