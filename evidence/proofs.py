"""Inclusion and consistency proof files, and their offline verification.

An inclusion proof shows that one entry is leaf ``seq - 1`` of the tree a signed
checkpoint commits to; a consistency proof shows that the tree of an older
checkpoint is a prefix of a newer one (nothing rewritten or dropped in between).
Both are self-contained JSON files: a verifier needs only the file and the public
key (RFC 9162 §2.1.3.2 and §2.1.4.2, every step checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import checkpoint as cpmod
from evidence.chain import entry_bytes, payload_commitment
from evidence.errors import InvalidInput, ProofInvalid
from evidence.export import json_to_row, row_to_json
from evidence.ledger import Ledger
from evidence.merkle import leaf_hash, verify_consistency, verify_inclusion

VERSION = 1


def inclusion(ledger: Ledger, seq: int, cp: cpmod.Checkpoint) -> dict[str, Any]:
    """Proof that entry ``seq`` is in the tree signed by ``cp``."""
    _same_ledger(ledger, cp)
    if not 1 <= seq <= cp.size:
        raise InvalidInput(f"seq {seq} is not covered by the checkpoint of size {cp.size}")
    path = ledger.inclusion_proof(seq, cp.size)
    return {
        "type": "inclusion",
        "version": VERSION,
        "origin": cp.origin,
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": cp.size,
        "entry": row_to_json(ledger.row(seq)),
        "path": [h.hex() for h in path],
        "checkpoint": cp.note,
    }


def consistency(ledger: Ledger, old: cpmod.Checkpoint, new: cpmod.Checkpoint) -> dict[str, Any]:
    """Proof that the tree of ``old`` is a prefix of the tree of ``new``."""
    _same_ledger(ledger, old)
    _same_ledger(ledger, new)
    if old.size > new.size:
        raise InvalidInput(f"--from has size {old.size}, larger than --to ({new.size}); swap them")
    path = ledger.consistency_proof(old.size, new.size)
    return {
        "type": "consistency",
        "version": VERSION,
        "origin": new.origin,
        "old_size": old.size,
        "new_size": new.size,
        "path": [h.hex() for h in path],
        "old_checkpoint": old.note,
        "new_checkpoint": new.note,
    }


def _same_ledger(ledger: Ledger, cp: cpmod.Checkpoint) -> None:
    if cp.origin != ledger.origin:
        raise InvalidInput(f"checkpoint is for {cp.origin!r}, this ledger is {ledger.origin!r}")


def write(proof: dict[str, Any], out: Path | None) -> str:
    text = json.dumps(proof, ensure_ascii=False, indent=2) + "\n"
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {out}: {exc.strerror}") from exc
    return text


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read proof {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict) or data.get("type") not in ("inclusion", "consistency"):
        raise InvalidInput(f"{path} is not a scimtrail inclusion or consistency proof")
    return data


def _hashes(values: Any, where: str) -> list[bytes]:
    try:
        out = [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise ProofInvalid(f"{where}: path is not a list of hex hashes") from exc
    return out


def verify(proof: dict[str, Any], pubkey: Ed25519PublicKey | None) -> str:
    """Check a proof file; return a one-line description, raise ProofInvalid otherwise."""
    if proof["type"] == "inclusion":
        cp = cpmod.parse(proof.get("checkpoint", ""), "the proof's checkpoint")
        if pubkey is not None:
            cpmod.verify(cp, pubkey, "the proof's checkpoint")
        row = json_to_row(proof.get("entry") or {}, "the proof's entry")
        if proof.get("tree_size") != cp.size or proof.get("seq") != row.seq:
            raise ProofInvalid("the proof's seq or size disagrees with its entry or checkpoint")
        expected_env = entry_bytes(
            row.seq, row.ts, row.kind, row.actor, row.run_id, row.ref, row.payload_hash
        )
        if expected_env != row.entry:
            raise ProofInvalid(f"entry {row.seq}: its fields do not match the hashed envelope")
        if row.body is not None and (
            row.salt is None or payload_commitment(row.salt, row.body) != row.payload_hash
        ):
            raise ProofInvalid(f"entry {row.seq}: the payload does not match its commitment")
        verify_inclusion(
            row.seq - 1, cp.size, leaf_hash(row.entry), _hashes(proof["path"], "inclusion"), cp.root
        )
        return f"entry {row.seq} is included in the checkpoint of size {cp.size}"
    old = cpmod.parse(proof.get("old_checkpoint", ""), "the proof's old checkpoint")
    new = cpmod.parse(proof.get("new_checkpoint", ""), "the proof's new checkpoint")
    if old.origin != new.origin:
        raise ProofInvalid("the two checkpoints are from different ledgers")
    if pubkey is not None:
        cpmod.verify(old, pubkey, "the old checkpoint")
        cpmod.verify(new, pubkey, "the new checkpoint")
    verify_consistency(
        old.size, new.size, old.root, new.root, _hashes(proof["path"], "consistency")
    )
    return f"the checkpoint of size {old.size} is a prefix of the checkpoint of size {new.size}"
