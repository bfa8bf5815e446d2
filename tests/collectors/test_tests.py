"""Test-run evidence: real JUnit XML from a pytest subprocess, and the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evidence.collectors.errors import MalformedJUnit, NotAGitRepository, UnknownCommit
from evidence.collectors.junit import parse_junit, record_junit
from evidence.ledger import Ledger
from tests.collectors.conftest import Repo

SAMPLE = """
import pytest

def test_maps_title():
    assert 1 + 1 == 2

def test_maps_manager():
    assert "a".upper() == "A"

def test_breaks():
    assert [1] == [2]

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

def test_with_broken_fixture(broken):
    pass
"""


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (cwd / "test_sample.py").write_text(SAMPLE, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={cwd}",
            "test_sample.py",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def junit_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real report for the module: pytest run in a subprocess on a sample suite."""
    base = tmp_path_factory.mktemp("junit")
    out = base / "junit.xml"
    work = base / "work"
    work.mkdir()
    proc = _pytest(work, f"--junitxml={out}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return out


def test_a_real_junit_report_is_summarised(junit_xml: Path) -> None:
    s = parse_junit(junit_xml)
    assert (s.tests, s.failures, s.errors, s.skipped) == (5, 1, 1, 1)
    assert s.passed is False
    assert s.failed_tests == ("test_sample::test_breaks", "test_sample::test_with_broken_fixture")
    assert s.duration_s >= 0
    assert len(s.sha256) == 64


def test_a_junit_report_is_recorded_against_its_commit_once(
    ledger: Ledger, git_repo: Repo, junit_xml: Path
) -> None:
    short = git_repo.shas["reviewed"][:10]
    done = record_junit(ledger, junit_xml, short, repo=git_repo.path)
    assert len(done.recorded) == 1
    entry = ledger.get(done.recorded[0])
    assert entry.kind == "test.run"
    assert entry.payload["commit"] == git_repo.shas["reviewed"]
    assert entry.payload["source"] == "junit"
    assert (entry.payload["tests"], entry.payload["failures"], entry.payload["passed"]) == (
        5,
        1,
        False,
    )
    again = record_junit(ledger, junit_xml, git_repo.shas["reviewed"], repo=git_repo.path)
    assert (again.recorded, again.skipped) == ((), 1)
    assert ledger.size() == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "invalid XML"),
        (b"<testsuite tests='3'><testcase name='a'>", "invalid XML"),
        (b"<html><body>502 Bad Gateway</body></html>", "root element is <html>"),
        (b"<testsuites></testsuites>", "no <testsuite>"),
        (b"<testsuite tests='many'/>", "is not a number"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite name="&a;"/>', "refused unsafe XML"),
    ],
)
def test_malformed_junit_gets_a_clear_error_and_records_nothing(
    sqlite_ledger: Ledger, git_repo: Repo, tmp_path: Path, content: bytes, reason: str
) -> None:
    ledger = sqlite_ledger
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    with pytest.raises(MalformedJUnit, match=reason) as err:
        record_junit(ledger, bad, git_repo.shas["reviewed"], repo=git_repo.path)
    assert "nothing was recorded" in err.value.diagnostics()
    assert ledger.size() == 0


def test_an_unknown_commit_or_repository_records_nothing(
    ledger: Ledger, git_repo: Repo, junit_xml: Path, tmp_path: Path
) -> None:
    with pytest.raises(UnknownCommit, match="0123abcd"):
        record_junit(ledger, junit_xml, "0123abcd", repo=git_repo.path)
    with pytest.raises(NotAGitRepository):
        record_junit(ledger, junit_xml, git_repo.shas["reviewed"], repo=tmp_path)
    assert ledger.size() == 0


def test_the_pytest_plugin_records_the_session_with_its_commit(db_url: str, git_repo: Repo) -> None:
    Ledger.init(db_url)
    proc = _pytest(git_repo.path, "--scimtrail-db", db_url, "--scimtrail-suite", "mapping")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the sample has a failing test
    assert "scimtrail: recorded test run of" in proc.stdout
    with Ledger.open(db_url) as ledger:
        runs = [e.payload for e in ledger.entries(kind="test.run")]
    assert len(runs) == 1
    run = runs[0]
    assert run["commit"] == git_repo.shas["merge"]
    assert run["source"] == "pytest-plugin"
    assert run["suite"] == "mapping"
    assert (run["tests"], run["failures"], run["errors"], run["skipped"]) == (5, 1, 1, 1)
    assert run["passed"] is False
    assert run["dirty"] is False
    assert run["failed_tests"] == [
        "test_sample.py::test_breaks",
        "test_sample.py::test_with_broken_fixture",
    ]


def test_the_pytest_plugin_is_off_unless_asked(git_repo: Repo, tmp_path: Path) -> None:
    db_url = str(tmp_path / "l.db")
    Ledger.init(db_url)
    proc = _pytest(git_repo.path)
    assert "scimtrail" not in proc.stdout
    with Ledger.open(db_url) as ledger:
        assert ledger.size() == 0


def test_the_pytest_plugin_stops_before_testing_when_the_ledger_is_unusable(
    git_repo: Repo, tmp_path: Path
) -> None:
    proc = _pytest(git_repo.path, "--scimtrail-db", str(tmp_path / "missing" / "x.db"))
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "cannot open ledger database" in proc.stderr
    assert "passed" not in proc.stdout


def test_a_report_without_tests_is_not_a_pass(tmp_path: Path) -> None:
    """An empty run (e.g. a collection that matched nothing) proves nothing."""
    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuites><testsuite name="s" tests="0" time="0.01"/></testsuites>')
    s = parse_junit(empty)
    assert (s.tests, s.passed) == (0, False)
    counted = tmp_path / "counted.xml"
    counted.write_text('<testsuite name="s" tests="4" failures="1" errors="0" skipped="1"/>')
    s = parse_junit(counted)
    assert (s.tests, s.failures, s.skipped, s.passed) == (4, 1, 1, False)
