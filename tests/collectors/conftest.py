from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import git
import pytest


@dataclass
class Repo:
    path: Path
    repo: git.Repo
    shas: dict[str, str]  # label → sha


def _commit(
    repo: git.Repo,
    path: Path,
    files: dict[str, str],
    message: str,
    author: str = "Alice",
    when: str = "2026-07-01T10:00:00+00:00",
) -> str:
    for name, text in files.items():
        f = path / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
        repo.index.add([name])
    actor = git.Actor(author, f"{author.lower()}@example.com")
    stamp = f"{int(datetime.fromisoformat(when).timestamp())} +0000"  # git's internal format
    return repo.index.commit(
        message, author=actor, committer=actor, author_date=stamp, commit_date=stamp
    ).hexsha


@pytest.fixture
def git_repo(template_repo: Repo, tmp_path: Path) -> Repo:
    """A fresh copy of the template repository for each test (tests may change it)."""
    path = tmp_path / "provisioning"
    shutil.copytree(template_repo.path, path)
    return Repo(path, git.Repo(path), dict(template_repo.shas))


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A real repository: mapping changes (one reviewed), a README change, a merged branch."""
    path = tmp_path_factory.mktemp("template") / "provisioning"
    path.mkdir()
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Alice")
        cw.set_value("user", "email", "alice@example.com")
        cw.set_value("commit", "gpgsign", "false")
    shas = {
        "initial": _commit(
            repo,
            path,
            {"mapping.yaml": "users: {}\n", "README.md": "x\n"},
            "Initial mapping",
            when="2026-06-01T10:00:00+00:00",
        ),
        "reviewed": _commit(
            repo,
            path,
            {"mapping.yaml": "users: {title: jobTitle}\n"},
            "Map the job title\n\nReviewed-by: Bob <bob@example.com>\n",
            when="2026-07-10T10:00:00+00:00",
        ),
        "docs": _commit(
            repo, path, {"README.md": "docs\n"}, "Docs only", when="2026-07-11T10:00:00+00:00"
        ),
    }
    main = repo.active_branch
    feature = repo.create_head("feature")
    feature.checkout()
    shas["feature"] = _commit(
        repo,
        path,
        {"provisioner/plan.py": "PLAN = 1\n"},
        "Plan tweak",
        author="Carol",
        when="2026-08-01T10:00:00+00:00",
    )
    main.checkout()
    shas["docs2"] = _commit(
        repo, path, {"README.md": "more docs\n"}, "More docs", when="2026-08-02T10:00:00+00:00"
    )
    stamp = {
        "GIT_AUTHOR_DATE": "2026-08-03T10:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-08-03T10:00:00+00:00",
    }
    with repo.git.custom_environment(**stamp):
        repo.git.merge(
            "feature",
            "--no-ff",
            "-m",
            "Merge pull request #42 from carol/feature\n\nApproved-by: Dave <dave@example.com>",
        )
    shas["merge"] = repo.head.commit.hexsha
    return Repo(path, repo, shas)
