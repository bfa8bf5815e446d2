"""Erasure keeps the chain verifiable; exports and proofs verify offline and catch tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence import checkpoint as cpmod
from evidence import proofs
from evidence.errors import (
    CheckpointMismatch,
    ErasureRefused,
    Fault,
    IntegrityError,
    InvalidInput,
    InvalidPayload,
    LedgerTampered,
    ProofInvalid,
)
from evidence.export import export, verify_export
from evidence.ledger import Ledger
from evidence.model import NewEntry


def people(ledger: Ledger, n: int, start: int = 0) -> None:
    ledger.append_many(
        [
            NewEntry(
                "scim.exchange",
                {"userName": f"p{i}@example.com", "name": "Fatimah Al-Harbi"},
                "bot",
            )
            for i in range(start, start + n)
        ]
    )


def test_an_erased_payload_is_gone_the_entry_stays_and_the_chain_verifies(ledger: Ledger) -> None:
    people(ledger, 5)
    before = ledger.get(3)
    erasure = ledger.erase(3, reason="PDPL request 2026-17", actor="dpo")
    after = ledger.get(3)
    assert after.payload is None
    assert after.erased_by == erasure.seq
    assert after.payload_hash == before.payload_hash
    assert ledger.get(erasure.seq).payload == {
        "erased_seq": 3,
        "reason": "PDPL request 2026-17",
        "payload_hash": before.payload_hash,
    }
    assert ledger.get(erasure.seq).ref == 3
    result = ledger.verify()
    assert (result.size, result.erased) == (6, 1)
    row = ledger.row(3)
    assert row.body is None
    assert row.salt is None


def test_erasing_twice_or_erasing_structure_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    people(ledger, 2)
    ledger.erase(1, reason="r", actor="dpo")
    with pytest.raises(ErasureRefused, match="already erased"):
        ledger.erase(1, reason="again", actor="dpo")
    cp = ledger.checkpoint(cpmod.load_or_create_key(tmp_path / "k.pem"))
    with pytest.raises(ErasureRefused, match="checkpoint entry"):
        ledger.erase(cp.size + 1, reason="r", actor="dpo")
    with pytest.raises(ErasureRefused, match="erasure entry"):
        ledger.erase(3, reason="r", actor="dpo")
    assert ledger.verify().size == 4


def test_a_full_export_verifies_offline_against_a_checkpoint(
    ledger: Ledger, tmp_path: Path
) -> None:
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    people(ledger, 150)
    ledger.erase(7, reason="r", actor="dpo")
    cp = ledger.checkpoint(key)
    people(ledger, 20, 150)
    out = tmp_path / "all.jsonl"
    summary = export(ledger, out)
    assert (summary.first_seq, summary.last_seq, summary.count) == (1, 172, 172)
    result = verify_export(out, [cp], key.public_key())
    assert result.size == 172
    assert result.erased == 1
    assert result.head_hex == ledger.head().link
    assert summary.root == ledger.head().root


def test_a_partial_export_verifies_from_its_frontier(ledger: Ledger, tmp_path: Path) -> None:
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    people(ledger, 100)
    middle = ledger.head().size
    since = ledger.get(middle).ts
    people(ledger, 100, 100)
    cp = ledger.checkpoint(key)
    people(ledger, 5, 200)
    out = tmp_path / "part.jsonl"
    summary = export(ledger, out, since=since)
    assert summary.first_seq <= middle
    result = verify_export(out, [cp], key.public_key())
    assert result.size == ledger.head().size
    assert result.checked_roots[0].size == cp.size


def _rewrite_line(path: Path, seq: int, change: dict[str, object]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if obj.get("seq") == seq:
            obj.update(change)
            lines[i] = json.dumps(obj, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("seq", "change", "fault"),
    [
        (4, {"payload": '{"name":"Mallory","userName":"p3@example.com"}'}, Fault.PAYLOAD_CHANGED),
        (5, {"actor": "mallory"}, Fault.ENTRY_CHANGED),
        (6, {"payload": None, "salt": None}, Fault.PAYLOAD_MISSING),
    ],
)
def test_a_tampered_export_line_is_named(
    sqlite_ledger: Ledger, tmp_path: Path, seq: int, change: dict[str, object], fault: Fault
) -> None:
    people(sqlite_ledger, 10)
    out = tmp_path / "x.jsonl"
    export(sqlite_ledger, out)
    _rewrite_line(out, seq, change)
    with pytest.raises(LedgerTampered) as info:
        verify_export(out)
    assert (info.value.seq, info.value.fault) == (seq, fault)


def test_a_cut_export_or_one_behind_a_checkpoint_is_truncation(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    people(sqlite_ledger, 10)
    out = tmp_path / "x.jsonl"
    export(sqlite_ledger, out)
    people(sqlite_ledger, 1, 10)
    later = sqlite_ledger.checkpoint(key)
    with pytest.raises(CheckpointMismatch) as info:
        verify_export(out, [later], key.public_key())
    assert info.value.fault is Fault.TRUNCATED
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")
    with pytest.raises(CheckpointMismatch) as info:
        verify_export(out)
    assert info.value.fault is Fault.TRUNCATED


def test_inclusion_and_consistency_proofs_verify_offline_and_are_logarithmic(
    ledger: Ledger, tmp_path: Path
) -> None:
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    people(ledger, 300)
    old = ledger.checkpoint(key)
    people(ledger, 700, 300)
    new = ledger.checkpoint(key)
    for seq in (1, 64, 65, 200, old.size):
        proof = proofs.inclusion(ledger, seq, new)
        assert len(proof["path"]) <= (new.size - 1).bit_length()
        assert f"entry {seq} is included" in proofs.verify(
            json.loads(json.dumps(proof)), key.public_key()
        )
    proof = proofs.consistency(ledger, old, new)
    assert len(proof["path"]) <= 2 * new.size.bit_length()
    assert "is a prefix" in proofs.verify(proof, key.public_key())


def test_a_doctored_proof_fails(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    people(sqlite_ledger, 40)
    cp = sqlite_ledger.checkpoint(key)
    proof = proofs.inclusion(sqlite_ledger, 9, cp)
    forged = json.loads(json.dumps(proof))
    forged["entry"]["actor"] = "mallory"
    with pytest.raises(ProofInvalid):
        proofs.verify(forged, key.public_key())
    forged = json.loads(json.dumps(proof))
    forged["path"][0] = "00" * 32
    with pytest.raises(ProofInvalid):
        proofs.verify(forged, key.public_key())
    other = cpmod.load_or_create_key(tmp_path / "other.pem")
    with pytest.raises(IntegrityError):
        proofs.verify(proof, other.public_key())
    with pytest.raises(InvalidInput):
        proofs.inclusion(sqlite_ledger, cp.size + 5, cp)


def test_a_large_batch_with_one_bad_entry_late_in_it_writes_nothing(ledger: Ledger) -> None:
    """Entries are validated before the lock is taken: one bad entry aborts the batch."""
    people(ledger, 3)
    batch = [NewEntry("note", {"i": i}, "bot") for i in range(1200)]
    batch[1100] = NewEntry("note", {"i": float("nan")}, "bot")
    with pytest.raises(InvalidPayload):
        ledger.append_many(batch)
    assert ledger.head().size == 3
    good = ledger.append_many([NewEntry("note", {"i": i}, "bot") for i in range(1200)])
    assert [a.seq for a in good] == list(range(4, 1204))
    assert ledger.verify().size == 1203
