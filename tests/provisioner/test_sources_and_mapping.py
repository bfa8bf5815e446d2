"""HR sources (CSV, JSON, JSON Lines), bad rows, and the mapping's rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner import sources
from provisioner.apply import RunContext, refuse_invalid
from provisioner.errors import InvalidRows, MappingError, SourceError
from tests.provisioner.conftest import EXAMPLE_HR, TODAY, person, target, write_csv


def test_bad_rows_name_file_row_and_field(example_mapping: mp.MappingFile, tmp_path: Path) -> None:
    rows = [
        person("E1", "Sarah", "Mitchell", "Engineering", "Engineer"),
        person("", "No", "Id", "Engineering", "Engineer"),
        person("E1", "Dup", "Licate", "Engineering", "Engineer", email="dup@example.sa"),
        person("E4", "Bad", "Mail", "Engineering", "Engineer", email="not-an-email"),
        person("E5", "Odd", "Status", "Engineering", "Engineer", status="Retired"),
        person("E6", "Bad", "Date", "Engineering", "Engineer", hire_date="31/12/2020"),
    ]
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    got = {(r.row, r.field) for r in src.rejected}
    assert got == {
        (3, "employee_id"),
        (4, "employee_id"),
        (5, "email"),
        (6, "status"),
        (7, "hire_date"),
    }
    assert [r["employee_id"] for r in src.records] == ["E1"]
    with pytest.raises(InvalidRows) as err:
        src.require_valid(skip_invalid=False)
    assert "hr.csv:5: email 'not-an-email': not a valid email address" in err.value.message
    src.require_valid(skip_invalid=True)


def test_refused_runs_still_record_the_rejected_rows(
    example_mapping: mp.MappingFile, tmp_path: Path
) -> None:
    rows = [person("E1", "A", "B", "X", "Y"), person("E2", "C", "D", "X", "Y", status="?")]
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        rc = RunContext(target(), example_mapping, ledger, "tester")
        with pytest.raises(InvalidRows):
            refuse_invalid(rc, src)
        rejected = [e.payload for e in ledger.entries(kind="hr.rejected")]
        finished = [e.payload for e in ledger.entries(kind="run.finished")]
    assert rejected == [
        {
            "file": "hr.csv",
            "row": 3,
            "field": "status",
            "value": "?",
            "reason": "unknown status (known: Active, On Leave, Terminated)",
        }
    ]
    assert finished[0]["ok"] is False


def test_json_and_json_lines_read_like_csv(example_mapping: mp.MappingFile, tmp_path: Path) -> None:
    rows = [
        person("E1", "Sarah", "Mitchell", "Engineering", "Engineer"),
        person("E2", "نورة", "الشهري", "Finance", "Accountant", email="n@example.sa"),
    ]
    (tmp_path / "hr.json").write_text(json.dumps({"employees": rows}), encoding="utf-8")
    (tmp_path / "hr.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    a = sources.read(tmp_path / "hr.json", example_mapping)
    b = sources.read(tmp_path / "hr.jsonl", example_mapping)
    assert a.records == b.records
    assert a.records[1]["first_name"] == "نورة"


def test_a_csv_without_the_mapped_columns_is_refused(
    example_mapping: mp.MappingFile, tmp_path: Path
) -> None:
    (tmp_path / "hr.csv").write_text("employee_id,name\nE1,x\n")
    with pytest.raises(SourceError, match="department"):
        sources.read(tmp_path / "hr.csv", example_mapping)


def test_the_example_mapping_builds_the_payload(example_mapping: mp.MappingFile) -> None:
    rec = sources.read(EXAMPLE_HR, example_mapping).records[0]
    body = mp.sample_payload(example_mapping, rec)
    assert body["userName"] == "m.alotaibi@example.sa"
    assert body["name"] == {
        "givenName": "محمد",
        "familyName": "العتيبي",
        "formatted": "محمد العتيبي",
    }
    ent = body[mp.ENTERPRISE]
    assert ent["costCenter"] == "CC-000"
    assert body["emails"] == [{"value": "m.alotaibi@example.sa", "type": "work", "primary": True}]
    assert example_mapping.groups_for(rec) == {
        "dept:executive": "Department: Executive",
        "role:chief-executive-officer": "Role: Chief Executive Officer",
    }


def test_lifecycle_states(example_mapping: mp.MappingFile) -> None:
    st = example_mapping.state
    assert st(person("E", "a", "b", "X", "Y"), TODAY).category == "active"
    assert st(person("E", "a", "b", "X", "Y", status="On Leave"), TODAY).category == "suspended"
    done = st(
        person("E", "a", "b", "X", "Y", status="Terminated", termination_date="2026-01-01"), TODAY
    )
    assert (done.category, done.effective_date) == ("terminated", "2026-01-01")
    later = st(person("E", "a", "b", "X", "Y", hire_date="2027-06-01"), TODAY)
    assert later.category == "not_yet"
    assert st(person("E", "a", "b", "Contractors", "Y"), TODAY).category == "out_of_scope"


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"user": {"userName": "{email}"}}, "source"),
        (
            {"source": {"key": "id", "status": "s"}, "user": {"userName": "{email|shout}"}},
            "user.userName",
        ),
        (
            {"source": {"key": "id", "status": "s"}, "user": {"userName": "x", "password": "{p}"}},
            "user.password",
        ),
        (
            {
                "source": {"key": "id", "status": "s"},
                "user": {"userName": "x"},
                "groups": [{"displayName": "{d}", "externalId": "{d}"}],
            },
            "groups[0].externalId",
        ),
        (
            {
                "source": {"key": "id", "status": "s"},
                "user": {"userName": "x"},
                "scope": {"include": [{"field": "d", "like": "x"}]},
            },
            "scope.include",
        ),
        (
            {
                "source": {"key": "id", "status": "s"},
                "user": {"userName": "x"},
                "lifecycle": {"active": ["A"], "terminated": ["A"]},
            },
            "lifecycle",
        ),
    ],
)
def test_invalid_mappings_name_the_key(doc: dict, key: str) -> None:
    with pytest.raises(MappingError) as err:
        mp.parse(doc, "m.yaml")
    assert err.value.key == key


def test_expressions_are_a_closed_set_not_eval() -> None:
    doc = yaml.safe_load("""
source: {key: id, status: s}
user:
  userName: "{mail|lower|strip}"
  displayName: {template: "{first} {last|upper}"}
  title: {from: t, map: {eng: Engineer}, default: Staff}
  nickName: {from: n, when: {field: s, equals: A}}
  userType: {constant: Employee}
""")
    m = mp.parse(doc)
    flat = m.attributes(
        {
            "id": "1",
            "s": "A",
            "mail": " X@Y.SA ",
            "first": "Ada",
            "last": "lovelace",
            "t": "ops",
            "n": "Ada",
        }
    )
    assert flat["userName"] == "x@y.sa"
    assert flat["displayName"] == "Ada LOVELACE"
    assert flat["title"] == "Staff"
    assert flat["nickName"] == "Ada"
    assert flat["userType"] == "Employee"
    assert m.attributes({"id": "1", "s": "B", "mail": "a@b.sa", "n": "x"})["nickName"] is None
    with pytest.raises(MappingError):
        mp.parse(yaml.safe_load('source: {key: id, status: s}\nuser: {userName: "{first + last}"}'))
