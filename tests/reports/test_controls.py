"""The control catalogue loads, and a broken one fails with file, line and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports.controls import (
    KNOWN_CHECKS,
    AllOf,
    AnyOf,
    default_path,
    load_catalogue,
)
from reports.errors import (
    CatalogueError,
    CatalogueSyntaxError,
    CompositionCycle,
    EmptyComposition,
    UnknownReference,
)
from reports.rules import CHECKS


@pytest.fixture
def cat_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "controls"
    shutil.copytree(default_path(), dest)
    return dest


def _append(path: Path, text: str) -> int:
    """Append YAML to a file; return the 1-based line the new text starts on."""
    before = path.read_text(encoding="utf-8")
    path.write_text(before + text, encoding="utf-8")
    return before.count("\n") + 1


def test_the_shipped_catalogue_loads_with_every_framework_asked_for() -> None:
    cat = load_catalogue()
    assert set(cat.frameworks) == {"nca-ecc-1", "nca-ecc-2", "soc2", "iso27001", "nist", "cis"}
    for ref in [
        "2-2-1",
        "2-2-2",
        "2-2-3",
        "2-2-4",
        "1-9-5",
        "2-12-3-2",
        "2-12-3-5",
        "1-6-3-3",
        *(f"2-2-3-{i}" for i in range(1, 6)),
    ]:
        assert f"nca-ecc-1:{ref}" in cat.requirements
        assert f"nca-ecc-2:{ref}" in cat.requirements
    assert cat.requirements["nca-ecc-2:2-2-3-1"].text.startswith("Single-factor")
    assert cat.requirements["nca-ecc-2:2-2-3-5"].parent == "nca-ecc-2:2-2-3"
    assert all(
        r.text_kind == "paraphrase" for r in cat.requirements.values() if r.framework == "iso27001"
    )
    for fw in cat.frameworks.values():
        assert fw.source.startswith("https://")
        assert fw.retrieved == "2026-12-03"


def test_the_seed_phrase_is_a_non_authoritative_alias_of_the_automation_control() -> None:
    cat = load_catalogue()
    auto = cat.controls["ORG-IAM-AUTO-01"]
    assert [(a.name, a.authoritative) for a in auto.aliases] == [
        ("ECC 2-2-3 Tools & Scripts", False)
    ]
    assert not any("Tools & Scripts" in r.text for r in cat.requirements.values())
    assert {m.relationship for m in cat.mappings} <= {"equal", "subset", "superset", "intersects"}
    assert cat.controls["ORG-IAM-SLA-02"].parameters["sla_business_days"] == 1


def test_every_check_the_catalogue_may_name_is_implemented() -> None:
    assert set(CHECKS) == KNOWN_CHECKS


def test_broken_yaml_names_the_file_and_line(cat_dir: Path) -> None:
    line = _append(cat_dir / "rules.yaml", "  - id: broken\n    check: [unclosed\n")
    with pytest.raises(CatalogueSyntaxError) as err:
        load_catalogue(cat_dir)
    assert err.value.file.endswith("rules.yaml")
    assert err.value.line is not None
    assert err.value.line >= line
    assert "invalid YAML" in err.value.diagnostics()


def test_a_mapping_to_an_unknown_requirement_is_refused_with_its_line(cat_dir: Path) -> None:
    line = _append(
        cat_dir / "mappings.yaml",
        "  - control: ORG-IAM-SLA-02\n    requirement: nca-ecc-2:9-9-9\n"
        "    relationship: equal\n    coverage: full\n    rationale: x\n"
        "    reviewer: me\n    reviewed: 2026-12-03\n",
    )
    with pytest.raises(UnknownReference) as err:
        load_catalogue(cat_dir)
    assert (Path(err.value.file).name, err.value.line) == ("mappings.yaml", line)
    assert "unknown requirement 'nca-ecc-2:9-9-9'" in str(err.value)


def test_composition_cycles_are_refused(cat_dir: Path) -> None:
    line = _append(
        cat_dir / "rules.yaml",
        "  - id: loop-a\n    all_of: [loop-b, ledger-verifies]\n"
        "  - id: loop-b\n    any_of: [loop-a]\n",
    )
    with pytest.raises(CompositionCycle) as err:
        load_catalogue(cat_dir)
    assert err.value.line == line
    assert "loop-a → loop-b → loop-a" in err.value.reason


def test_empty_compositions_are_refused(cat_dir: Path) -> None:
    _append(cat_dir / "rules.yaml", "  - id: vacuous\n    all_of: []\n")
    with pytest.raises(EmptyComposition, match="vacuous"):
        load_catalogue(cat_dir)
    with pytest.raises(ValueError, match="refused"):
        AllOf("x", (), "")
    with pytest.raises(ValueError, match="refused"):
        AnyOf("x", (), "")


@pytest.mark.parametrize(
    ("file", "text", "reason"),
    [
        ("rules.yaml", "  - id: r\n    check: telepathy\n", "unknown check 'telepathy'"),
        ("rules.yaml", "  - id: ledger-verifies\n    check: ledger_verifies\n", "defined twice"),
        (
            "internal.yaml",
            "  - id: X\n    title: t\n    statement: s\n    owner: o\n"
            "    frequency: hourly\n    type: automated\n    nature: preventive\n    evidence: e\n",
            "`frequency` is 'hourly'",
        ),
        (
            "internal.yaml",
            "  - id: X\n    title: t\n    statement: s\n    owner: o\n"
            "    frequency: daily\n    type: automated\n    nature: preventive\n"
            "    evidence: nowhere\n",
            "unknown evidence rule 'nowhere'",
        ),
        (
            "mappings.yaml",
            "  - control: ORG-NOPE\n    requirement: soc2:CC6.1\n"
            "    relationship: equal\n    coverage: full\n    rationale: x\n    reviewer: me\n"
            "    reviewed: 2026-12-03\n",
            "unknown control 'ORG-NOPE'",
        ),
        (
            "mappings.yaml",
            "  - control: ORG-LOG-04\n    requirement: soc2:CC6.1\n"
            "    relationship: same\n    coverage: full\n    rationale: x\n    reviewer: me\n"
            "    reviewed: 2026-12-03\n",
            "`relationship` is 'same'",
        ),
        (
            "mappings.yaml",
            "  - control: ORG-LOG-04\n    requirement: soc2:CC6.1\n"
            "    relationship: equal\n    coverage: full\n    rationale: x\n    reviewer: me\n"
            "    reviewed: last week\n",
            "must be a date",
        ),
        *[
            (
                "internal.yaml",
                "  - id: X\n    title: t\n    statement: s\n    owner: o\n"
                "    frequency: daily\n    type: automated\n    nature: preventive\n"
                f"    evidence: leavers-within-sla\n    parameters: {{{params}}}\n",
                reason,
            )
            for params, reason in [
                ("weekend: [funday]", "parameter `weekend` must be a list of mon"),
                ("timezone: Mars/Olympus", "parameter `timezone` must be an IANA time zone"),
                ("sla_business_days: one", "parameter `sla_business_days` must be a whole"),
                ("holidays: [soon]", "parameter `holidays` must be a list of dates"),
                ("operations: [teleport]", "parameter `operations` must be a list of create"),
            ]
        ],
        (
            "crosswalk.yaml",
            "  - {source: 'soc2:CC9.9', target: 'cis:5.1', relationship: equal}\n",
            "unknown requirement 'soc2:CC9.9'",
        ),
    ],
)
def test_invalid_entries_fail_with_file_line_and_reason(
    cat_dir: Path, file: str, text: str, reason: str
) -> None:
    line = _append(cat_dir / file, text)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(cat_dir)
    assert Path(err.value.file).name == file
    assert err.value.line == line
    assert reason in err.value.reason


def test_duplicate_keys_are_refused(cat_dir: Path) -> None:
    (cat_dir / "extra.yaml").write_text("rules:\n  - id: a\n    id: b\n    check: log_retention\n")
    with pytest.raises(CatalogueSyntaxError, match="duplicate key 'id'") as err:
        load_catalogue(cat_dir)
    assert err.value.line == 3


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope")
