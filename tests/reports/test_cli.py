"""`scimtrail report …` and `scimtrail controls …` through the umbrella CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from evidence.ledger import Ledger
from reports.controls import default_path
from scimtrail.cli import main
from tests.reports.seeding import Seeder, seed_quarter


@pytest.fixture
def q3_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        seed_quarter(Seeder(ledger))
    return db


def test_coverage_as_json_csv_and_table(q3_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["report", "coverage", "--period", "2026-Q3", "--db", q3_db]
    assert main([*base, "--framework", "nca-ecc-2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["period"] == {"label": "2026-Q3", "from": "2026-07-01", "to": "2026-09-30"}
    assert [(f["id"], f["version"], f["retrieved"]) for f in doc["frameworks"]] == [
        ("nca-ecc-2", "ECC-2:2024", "2026-12-03")
    ]
    statuses = {r["id"]: r["status"] for r in doc["requirements"]}
    assert statuses["nca-ecc-2:1-9-5"] == "partial"
    assert statuses["nca-ecc-2:2-2-3-2"] == "not covered"
    assert all(len(r["content_hash"]) == 64 for r in doc["requirements"])
    assert main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["kind"] for r in rows} == {"requirement", "control"}
    assert next(r for r in rows if r["id"] == "ORG-IAM-SLA-02")["exceptions"] == "1"
    assert main([*base, "--framework", "soc2"]) == 0
    out = capsys.readouterr().out
    assert "soc2:CC6.2" in out
    assert "operation → requirement → evidence" in out


def test_explain_drills_down_to_the_deciding_rows(
    q3_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "report",
        "coverage",
        "--from",
        "2026-07-01",
        "--to",
        "2026-09-30",
        "--db",
        q3_db,
        "--explain",
        "ORG-CHG-03",
        "--format",
        "json",
    ]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["item"]["status"] == "partial"
    exceptions = [r for r in doc["rows"] if r["outcome"] == "exception"]
    assert {r["rule"] for r in exceptions} == {
        "config-tested-before-use",
        "config-changes-approved",
    }
    assert main([*args[:-2], "--format", "table"]) == 0
    assert "ORG-CHG-03: partial" in capsys.readouterr().out
    assert main([*args[:-3], "nope", "--format", "table"]) == 1
    assert "'nope' is neither a requirement nor an internal control" in capsys.readouterr().err


def test_metrics_lists_breaches_and_untested_changes(
    q3_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["report", "metrics", "--period", "2026-Q3", "--db", q3_db]
    assert main([*base, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["sla_breaches"] == 1
    assert doc["breaches"][0]["external_id"] == "u5"
    assert doc["sla"]["timezone"] == "Asia/Riyadh"
    assert main([*base, "--list", "breaches", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["external_id"], r["lag_business_days"]) for r in rows] == [("u5", "6")]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "SLA breaches" in out
    assert "config used without a passing test first" in out
    assert main([*base, "--sla-days", "10", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["sla_breaches"] == 0


def test_a_bad_period_is_a_usage_message_not_a_traceback(
    q3_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "coverage", "--period", "Q3", "--db", q3_db]) == 1
    err = capsys.readouterr().err
    assert "cannot understand the period 'Q3'" in err
    assert "hint: use --period 2026-Q3" in err


def test_controls_check_passes_and_fails_with_file_line_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["controls", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ")
    assert "note: nca-ecc-2: no internal control maps to 2-2-1, 2-2-3-1, 2-2-3-2\n" in out
    broken = tmp_path / "controls"
    shutil.copytree(default_path(), broken)
    text = (broken / "mappings.yaml").read_text()
    (broken / "mappings.yaml").write_text(text.replace("nca-ecc-2:1-9-5", "nca-ecc-2:1-9-55", 1))
    line = text[: text.index("nca-ecc-2:1-9-5")].count("\n")  # the mapping starts a line above
    assert main(["controls", "check", "--catalogue", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"mappings.yaml:{line}: mapping names unknown requirement 'nca-ecc-2:1-9-55'" in err


def test_controls_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["controls", "list", "controls", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    auto = next(r for r in rows if r["id"] == "ORG-IAM-AUTO-01")
    assert auto["aliases"] == ["ECC 2-2-3 Tools & Scripts"]
    assert main(["controls", "list", "requirements", "--framework", "iso27001", "-f", "csv"]) == 0
    assert "iso27001:A.8.15" in capsys.readouterr().out

    assert main(["controls", "list", "crosswalk", "--framework", "cis", "-f", "json"]) == 0
    edges = json.loads(capsys.readouterr().out)
    assert {
        "source": "cis:6.2",
        "target": "nca-ecc-2:1-9-5",
        "relationship": "intersects",
        "note": "",
    } in edges
    assert main(["controls", "list", "frameworks", "-f", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6
    assert main(["controls", "list", "nonsense"]) == 2
