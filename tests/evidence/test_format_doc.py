"""docs/ledger-format.md cannot drift: its vectors are what the code computes, and an
independent verifier written from it accepts real exports and rejects tampered ones.

The verifier (examples/verify_ledger_export.py) runs as a separate process, exactly as an
auditor would run it.
"""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence import checkpoint as cpmod
from evidence import export as exmod
from evidence import proofs
from evidence.errors import IntegrityError
from evidence.ledger import Ledger
from evidence.model import NewEntry
from evidence.redact import Redactor
from tests.evidence import vectors
from tests.evidence.tamper import tamper

VERIFIER = vectors.ROOT / "examples" / "verify_ledger_export.py"
V = vectors.build()


def run_verifier(export: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(export), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def pubkey(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.pub"
    path.write_text(V["key"]["public_pem"], encoding="utf-8")
    return path


def test_the_json_vectors_are_what_the_code_computes() -> None:
    on_disk = vectors.JSON_PATH.read_text(encoding="utf-8")
    assert on_disk == vectors.to_json(V), "run: .venv/bin/python -m tests.evidence.vectors --write"


def test_the_vectors_printed_in_the_doc_are_what_the_code_computes() -> None:
    doc = vectors.DOC_PATH.read_text(encoding="utf-8")
    printed = vectors.doc_vector_blocks(doc)
    expected = vectors.doc_blocks(V)
    assert set(printed) == set(expected)
    for name, text in expected.items():
        assert printed[name] == text, f"block {name}: run python -m tests.evidence.vectors --write"


def test_the_doc_names_every_fault_verify_can_report() -> None:
    from evidence.errors import Fault

    doc = vectors.DOC_PATH.read_text(encoding="utf-8")
    for fault in Fault:
        if fault is not Fault.MALFORMED:
            assert f"| `{fault.value}` |" in doc


@pytest.fixture
def vector_ledger(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """The vector ledger written through the real write path, with fixed salts and clock."""
    monkeypatch.setattr("evidence.ledger.uuid.uuid4", lambda: uuid.UUID(vectors.LEDGER_ID))
    seqs = itertools.count(1)
    monkeypatch.setattr(
        "evidence.ledger.secrets.token_bytes", lambda n: vectors.salt_for(next(seqs))
    )
    clock = iter(
        [vectors.ts_for(1), vectors.ts_for(2), vectors.ts_for(3),
         vectors.ts_for(3).replace(".000000", ".500000"), vectors.ts_for(4),
         vectors.ts_for(5), vectors.ts_for(6)]
    )  # fmt: skip
    Ledger.init(db_url)
    with Ledger.open(db_url, redactor=Redactor(None), clock=lambda: next(clock)) as led:
        for kind, actor, run, ref, payload in vectors._ENTRIES:
            led.append_many([NewEntry(kind, payload, actor, run, ref)])
        led.checkpoint(vectors.test_key(), actor="scimtrail")
        led.erase(2, reason="GDPR art. 17 request 2026-118", actor="dpo")
        kind, actor, run, ref, payload = vectors._FINISHED
        led.append_many([NewEntry(kind, payload, actor, run, ref)])
        yield led


def test_the_real_write_path_produces_the_documented_bytes(vector_ledger: Ledger) -> None:
    rows = list(vector_ledger.rows())
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    for row, want in zip(rows, V["entries"], strict=True):
        assert row.entry.decode() == want["entry"]
        assert row.payload_hash.hex() == want["payload_hash"]
        assert (row.leaf.hex(), row.prev.hex(), row.link.hex()) == (
            want["leaf"], want["prev"], want["link"],
        )  # fmt: skip
        assert (row.salt.hex() if row.salt else None) == want["stored_salt"]
        assert (row.body.decode() if row.body else None) == want["stored_payload"]
        assert row.erased_by == want["erased_by"]
    assert vector_ledger.head().root == V["merkle"]["roots"]["6"]
    assert vector_ledger.checkpoints()[0].note == V["checkpoints"][0]["note"]


def test_the_real_export_and_proof_files_are_the_documented_ones(
    vector_ledger: Ledger, tmp_path: Path
) -> None:
    out = tmp_path / "ledger.jsonl"
    exmod.export(vector_ledger, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    header["exported_at"] = json.loads(V["export"].splitlines()[0])["exported_at"]
    lines[0] = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    assert "\n".join(lines) + "\n" == V["export"]
    cp3, cp6 = (cpmod.parse(c["note"]) for c in V["checkpoints"])
    assert proofs.inclusion(vector_ledger, 2, cp6) == V["inclusion"]["file"]
    assert proofs.consistency(vector_ledger, cp3, cp6) == V["consistency"]["file"]
    key = vectors.test_key().public_key()
    proofs.verify(V["inclusion"]["file"], key)
    proofs.verify(V["consistency"]["file"], key)


def test_the_independent_verifier_accepts_the_vector_export(tmp_path: Path, pubkey: Path) -> None:
    export = tmp_path / "ledger.jsonl"
    export.write_text(V["export"], encoding="utf-8")
    args = []
    for c in V["checkpoints"]:
        path = tmp_path / f"cp{c['size']}.txt"
        path.write_text(c["note"], encoding="utf-8")
        args += ["--checkpoint", str(path)]
    result = run_verifier(export, *args, "--pubkey", str(pubkey))
    assert result.returncode == 0, result.stderr
    assert f"head {V['entries'][-1]['link']}" in result.stdout
    assert "matches 2 supplied checkpoint(s)" in result.stdout


def _negative_args(n: dict[str, Any], tmp_path: Path, pubkey: Path) -> list[str]:
    args = []
    if n["checkpoint"]:
        path = tmp_path / "kept.txt"
        path.write_text(n["checkpoint"], encoding="utf-8")
        args += ["--checkpoint", str(path)]
    if n["use_pubkey"]:
        args += ["--pubkey", str(pubkey)]
    return args


NEGATIVE = {n["name"]: n for n in V["negative"]}


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_the_independent_verifier_names_the_first_bad_seq_of_each_negative_vector(
    name: str, tmp_path: Path, pubkey: Path
) -> None:
    n = NEGATIVE[name]
    export = tmp_path / "tampered.jsonl"
    export.write_text(n["export"], encoding="utf-8")
    result = run_verifier(export, *_negative_args(n, tmp_path, pubkey))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"seq {n['expect']['seq']}: {n['expect']['fault']}:" in result.stderr


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_scimtrail_verify_export_agrees_on_each_negative_vector(name: str, tmp_path: Path) -> None:
    n = NEGATIVE[name]
    export = tmp_path / "tampered.jsonl"
    export.write_text(n["export"], encoding="utf-8")
    cps = [cpmod.parse(n["checkpoint"])] if n["checkpoint"] else []
    key = vectors.test_key().public_key() if n["use_pubkey"] else None
    with pytest.raises(IntegrityError) as info:
        exmod.verify_export(export, cps, key)
    err: Any = info.value
    assert (err.seq, err.fault.value) == (n["expect"]["seq"], n["expect"]["fault"])


@pytest.mark.parametrize("name", ["dropped tail", "forked head", "re-signed rewrite"])
def test_consistent_rewrites_pass_without_a_kept_checkpoint(name: str, tmp_path: Path) -> None:
    """Why auditors must keep checkpoints: these three are internally consistent."""
    export = tmp_path / "tampered.jsonl"
    export.write_text(NEGATIVE[name]["export"], encoding="utf-8")
    assert run_verifier(export).returncode == 0


def _fill(led: Ledger) -> None:
    led.append_many(
        [NewEntry("scim.exchange", {"user": f"u{i}", "name": "Zoë Ó Súilleabháin", "score": i / 3,
                                    "big": 1e21}, "bot", "run-7") for i in range(1, 41)]
    )  # fmt: skip


def test_the_independent_verifier_accepts_a_real_export_and_rejects_it_tampered(
    ledger: Ledger, tmp_path: Path
) -> None:
    key = cpmod.load_or_create_key(tmp_path / "key.pem")
    pub = tmp_path / "ledger.pub"
    pub.write_bytes(cpmod.public_pem(key))
    _fill(ledger)
    first = ledger.checkpoint(key)
    ledger.erase(7, reason="test erasure", actor="dpo")
    _fill(ledger)
    kept = ledger.checkpoint(key)
    cp_file = tmp_path / "kept.txt"
    cp_file.write_text(kept.note, encoding="utf-8")
    first_file = tmp_path / "first.txt"
    first_file.write_text(first.note, encoding="utf-8")
    export = tmp_path / "ledger.jsonl"
    exmod.export(ledger, export)
    ok = run_verifier(export, "--checkpoint", str(cp_file), "--checkpoint", str(first_file),
                      "--pubkey", str(pub))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"head {ledger.head().link}" in ok.stdout
    assert "1 payloads erased; 2 checkpoints in the chain" in ok.stdout

    tamper(ledger, "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 30")
    exmod.export(ledger, export)
    bad = run_verifier(export, "--checkpoint", str(cp_file), "--pubkey", str(pub))
    assert bad.returncode == 3
    assert "seq 30: entry changed:" in bad.stderr


def test_the_independent_verifier_checks_a_partial_export(ledger: Ledger, tmp_path: Path) -> None:
    key = cpmod.load_or_create_key(tmp_path / "key.pem")
    _fill(ledger)
    ledger.checkpoint(key)
    _fill(ledger)
    start = ledger.get(50).ts
    ledger.checkpoint(key)
    export = tmp_path / "part.jsonl"
    summary = exmod.export(ledger, export, since=start)
    assert summary.first_seq > 1
    result = run_verifier(export)
    assert result.returncode == 0, result.stderr
    assert f"entries {summary.first_seq}..{summary.last_seq}" in result.stdout


def test_the_independent_verifier_refuses_a_wrong_key(tmp_path: Path) -> None:
    export = tmp_path / "ledger.jsonl"
    export.write_text(V["export"], encoding="utf-8")
    other = tmp_path / "other.pub"
    other.write_bytes(cpmod.public_pem(cpmod.load_or_create_key(tmp_path / "other.pem")))
    result = run_verifier(export, "--pubkey", str(other))
    assert result.returncode == 3
    assert "seq 4: checkpoint signature invalid" in result.stderr


def test_the_independent_verifier_imports_only_the_stdlib_and_cryptography() -> None:
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}
