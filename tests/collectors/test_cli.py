"""`scimtrail evidence …` end to end through the umbrella CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.ledger import Ledger
from scimtrail.cli import main
from tests.collectors.conftest import Repo


def test_evidence_commands_record_once_and_say_what_they_did(
    git_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    repo = str(git_repo.path)
    args = ["evidence", "git", "--repo", repo, "--paths", "mapping.yaml", "--db", db]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "recorded 2 commits (seq 1..2)"
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "recorded 0 commits; 2 already in the ledger"
    junit = tmp_path / "j.xml"
    junit.write_text(
        "<testsuite name='s' tests='1'><testcase classname='t' name='ok'/></testsuite>"
    )
    sha = git_repo.shas["reviewed"]
    assert main(["evidence", "tests", str(junit), "--commit", sha, "--repo", repo, "--db", db]) == 0
    assert "recorded 1 test run (seq 3)" in capsys.readouterr().out
    deploy = [
        "evidence",
        "deploy",
        "--env",
        "prod",
        "--commit",
        sha,
        "--repo",
        repo,
        "--job-url",
        "https://ci.example.com/j/1",
        "--db",
        db,
    ]
    assert main(deploy) == 0
    assert "recorded 1 deployment (seq 4)" in capsys.readouterr().out


def test_bad_input_exits_1_with_the_reason_and_records_nothing(
    git_repo: Repo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    junit = tmp_path / "j.xml"
    junit.write_text("<testsuite")
    code = main(
        [
            "evidence",
            "tests",
            str(junit),
            "--commit",
            git_repo.shas["merge"],
            "--repo",
            str(git_repo.path),
            "--db",
            db,
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{junit}:1: not a usable JUnit XML report" in err
    assert "Traceback" not in err
    assert main(["evidence", "git", "--repo", str(tmp_path), "--db", db]) == 1
    assert "not a git repository" in capsys.readouterr().err
    with Ledger.open(db) as ledger:
        assert ledger.size() == 0
