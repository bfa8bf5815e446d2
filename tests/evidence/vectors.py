"""Worked test vectors for docs/ledger-format.md, built from fixed inputs with evidence's own code.

A six-entry ledger with fixed timestamps, salts and an Ed25519 test key (the RFC 8032
§7.1 TEST 1 secret key): every hash input and output, the Merkle roots, two signed
checkpoints, an inclusion and a consistency proof, the export file, and negative
vectors (tampered exports with the first bad seq and the fault a verifier must name).

    .venv/bin/python -m tests.evidence.vectors --write   # regenerate the JSON and the doc

``tests/evidence/test_format_doc.py`` fails when the code, docs/test-vectors.json and
the vectors printed in docs/ledger-format.md disagree.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence import checkpoint as cpmod
from evidence import export as exmod
from evidence import proofs as proofmod
from evidence.canonical import canonical_bytes
from evidence.chain import GENESIS, Row, entry_bytes, link_hash, payload_commitment
from evidence.errors import Fault
from evidence.merkle import (
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
)
from evidence.redact import Redactor

ROOT = Path(__file__).resolve().parents[2]
JSON_PATH = ROOT / "docs" / "test-vectors.json"
DOC_PATH = ROOT / "docs" / "ledger-format.md"

#: RFC 8032 §7.1 TEST 1 secret key: a published test key, never to be used for real.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
LEDGER_ID = "00000000-0000-4000-8000-000000000001"
ORIGIN = f"scimtrail/{LEDGER_ID}"


def test_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))


def salt_for(seq: int) -> bytes:
    return bytes([seq]) * 16


def ts_for(seq: int) -> str:
    return f"2026-12-03T10:00:0{seq}.000000Z"


# (kind, actor, run_id, ref, payload) for seq 1..3; 4 is a checkpoint of size 3, 5 the
# erasure of entry 2's payload, 6 is _FINISHED.
_ENTRIES: list[tuple[str, str, str | None, int | None, dict[str, Any]]] = [
    (
        "run.started",
        "provisioner",
        "run-0001",
        None,
        {
            "run_id": "run-0001",
            "mode": "apply",
            "target": {"name": "demo", "url": "https://scim.example.com/v2"},
        },
    ),
    (
        "scim.exchange",
        "provisioner",
        "run-0001",
        None,
        {
            "operation": "create",
            "resource_type": "User",
            "external_id": "E1001",
            "outcome": "ok",
            "request": {
                "method": "POST",
                "url": "https://scim.example.com/v2/Users",
                "headers": {"Authorization": "Bearer abc123"},
                "body": {"userName": "jose.muller", "displayName": "José Müller"},
            },
            "response": {"status": 201},
        },
    ),
    (
        "note",
        "ciso",
        None,
        None,
        {
            "review": "Q3 access review — Zürich",
            "signed_off": True,
            "coverage": 0.975,
            "items": 1e3,
        },
    ),
]


_FINISHED: tuple[str, str, str | None, int | None, dict[str, Any]] = (
    "run.finished",
    "provisioner",
    "run-0001",
    None,
    {"run_id": "run-0001", "ok": True, "counts": {"create": 1, "failed": 0}, "duration_s": 1.25},
)


class TinyLedger:
    """The six-entry vector ledger, built with evidence's pure functions."""

    def __init__(self) -> None:
        self.key = test_key()
        self.rows: list[Row] = []
        self.bodies: dict[int, bytes] = {}
        self.frontier = Frontier()
        self.link = GENESIS
        self.checkpoints: list[cpmod.Checkpoint] = []
        redact = Redactor(None).redact
        for kind, actor, run, ref, payload in _ENTRIES:
            self._append(kind, actor, run, ref, canonical_bytes(redact(payload)))
        cp = self.sign(ts_for(3).replace(".000000", ".500000"))
        payload_cp = cp.as_dict() | {"key": cpmod.fingerprint(self.key.public_key())}
        self._append("checkpoint", "scimtrail", None, None, canonical_bytes(redact(payload_cp)))
        erased = self.rows[1]
        erasure = {
            "erased_seq": 2,
            "reason": "GDPR art. 17 request 2026-118",
            "payload_hash": erased.payload_hash.hex(),
        }
        self._append("erasure", "dpo", None, 2, canonical_bytes(redact(erasure)))
        self.rows[1] = erased._replace(salt=None, body=None, erased_by=5)
        kind, actor, run, ref, payload = _FINISHED
        self._append(kind, actor, run, ref, canonical_bytes(redact(payload)))
        self.sign(ts_for(6).replace(".000000", ".500000"))

    def _append(self, kind: str, actor: str, run: str | None, ref: int | None, body: bytes) -> None:
        seq = len(self.rows) + 1
        salt = salt_for(seq)
        phash = payload_commitment(salt, body)
        entry = entry_bytes(seq, ts_for(seq), kind, actor, run, ref, phash)
        leaf = leaf_hash(entry)
        link = link_hash(self.link, leaf)
        self.rows.append(
            Row(seq, ts_for(seq), kind, actor, run, ref, phash, entry, leaf, self.link, link,
                salt, body, None)
        )  # fmt: skip
        self.bodies[seq] = body
        self.frontier.append(leaf)
        self.link = link

    def sign(self, time: str) -> cpmod.Checkpoint:
        size = len(self.rows)
        cp = cpmod.sign(self.key, ORIGIN, size, self.frontier.root(), time, self.link)
        self.checkpoints.append(cp)
        return cp

    def leaves(self) -> list[bytes]:
        return [r.leaf for r in self.rows]

    def subtree(self, start: int, end: int) -> bytes:
        return root_of(self.leaves()[start:end])


def export_lines(rows: list[Row], *, first: int = 1, prev: bytes = GENESIS) -> list[str]:
    """The export file (JSON Lines) of ``rows``, as evidence/export.py writes it."""
    before = Frontier()
    for leaf in [r.leaf for r in rows][: first - 1]:
        before.append(leaf)
    header = {
        "type": "header",
        "format": exmod.FORMAT,
        "version": exmod.VERSION,
        "ledger_id": LEDGER_ID,
        "origin": ORIGIN,
        "first_seq": first,
        "last_seq": rows[-1].seq if rows else first - 1,
        "prev_link": prev.hex(),
        "frontier": [n.hex() for n in before.nodes],
        "exported_at": "2026-12-03T11:00:00.000000Z",
        "since": None,
        "until": None,
    }
    frontier = before.copy()
    link = prev
    body = []
    for r in rows[first - 1 :]:
        body.append(exmod.row_to_json(r))
        frontier.append(r.leaf)
        link = r.link
    footer = {
        "type": "footer",
        "count": len(body),
        "head_link": link.hex(),
        "root": frontier.root().hex(),
    }
    return [_dump(o) for o in [header, *body, footer]]


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def rechain(rows: list[Row], start: int) -> list[Row]:
    """Recompute envelope, leaf and links from index ``start`` on (an attacker's rewrite)."""
    out = list(rows[:start])
    prev = out[-1].link if out else GENESIS
    for r in rows[start:]:
        entry = entry_bytes(r.seq, r.ts, r.kind, r.actor, r.run_id, r.ref, r.payload_hash)
        leaf = leaf_hash(entry)
        link = link_hash(prev, leaf)
        out.append(r._replace(entry=entry, leaf=leaf, prev=prev, link=link))
        prev = link
    return out


def _with_payload(r: Row, body: bytes) -> Row:
    salt = r.salt or salt_for(r.seq)
    return r._replace(salt=salt, body=body, payload_hash=payload_commitment(salt, body))


def negatives(t: TinyLedger) -> list[dict[str, Any]]:
    """Tampered exports: what changed, and the first bad seq and fault a verifier must name."""
    rows = t.rows
    cp3, cp6 = t.checkpoints
    out: list[dict[str, Any]] = []

    def add(name: str, why: str, lines: list[str], seq: int, fault: Fault, **kw: Any) -> None:
        out.append(
            {
                "name": name,
                "description": why,
                "export": "\n".join(lines) + "\n",
                "checkpoint": kw.get("checkpoint"),
                "use_pubkey": kw.get("use_pubkey", False),
                "expect": {"ok": False, "seq": seq, "fault": fault.value},
            }
        )

    flipped = export_lines(rows)
    obj = json.loads(flipped[3])
    obj["payload"] = obj["payload"].replace("Zürich", "Zurich")
    flipped[3] = _dump(obj)
    add(
        "flipped payload byte",
        "entry 3's stored payload has one character changed (ü → u); hashes left alone",
        flipped,
        3,
        Fault.PAYLOAD_CHANGED,
    )

    env = export_lines(rows)
    obj = json.loads(env[1])
    obj["entry"] = obj["entry"].replace('"provisioner"', '"provisionex"')
    env[1] = _dump(obj)
    add(
        "flipped envelope byte",
        "entry 1's hashed envelope has one byte changed; its leaf no longer matches",
        env,
        1,
        Fault.ENTRY_CHANGED,
    )

    col = export_lines(rows)
    obj = json.loads(col[3])
    obj["actor"] = "mallory"
    col[3] = _dump(obj)
    add(
        "changed column",
        "entry 3's actor column says mallory while its hashed envelope still says ciso",
        col,
        3,
        Fault.ENTRY_CHANGED,
    )

    swapped = list(rows)
    swapped[1] = rows[2]._replace(seq=2)
    swapped[2] = rows[1]._replace(seq=3)
    add(
        "swapped rows",
        "the stored contents of entries 2 and 3 swapped, seq numbers left in place",
        export_lines(swapped),
        2,
        Fault.REORDERED,
    )

    gap = export_lines(rows)
    del gap[3]
    add("dropped entry", "entry 3's line removed", gap, 3, Fault.ENTRY_MISSING)

    missing = export_lines(rows)
    obj = json.loads(missing[3])
    obj["payload"] = obj["salt"] = None
    missing[3] = _dump(obj)
    add(
        "payload gone without erasure",
        "entry 3's payload and salt cleared, but no erasure entry names it",
        missing,
        3,
        Fault.PAYLOAD_MISSING,
    )

    add(
        "dropped tail",
        "entry 6 removed and header and footer recomputed: the file is internally consistent, "
        "only the supplied checkpoint of size 6 shows the truncation",
        export_lines(rows[:5]),
        6,
        Fault.TRUNCATED,
        checkpoint=cp6.note,
        use_pubkey=True,
    )

    forked = list(rows)
    finished = json.loads(rows[5].body or b"{}")
    finished["ok"] = False
    forked[5] = _with_payload(rows[5], canonical_bytes(finished))
    add(
        "forked head",
        "a different entry 6 (run.finished with ok false), correctly chained and footer "
        "recomputed; the supplied checkpoint of size 6 has another root",
        export_lines(rechain(forked, 5)),
        6,
        Fault.REWRITTEN,
        checkpoint=cp6.note,
        use_pubkey=True,
    )

    rewritten = _resigned_rewrite(rows)
    add(
        "re-signed rewrite",
        "entry 3 rewritten, every later hash recomputed and the checkpoint entry 4 re-signed "
        "with another key (the strongest attack on a chain); the genuine checkpoint of size 3 "
        "no longer matches",
        export_lines(rewritten),
        3,
        Fault.REWRITTEN,
        checkpoint=cp3.note,
        use_pubkey=True,
    )
    add(
        "re-signed rewrite, key only",
        "the same file, checked with the ledger's public key but no kept checkpoint: the "
        "re-signed checkpoint entry gives it away",
        export_lines(rewritten),
        4,
        Fault.BAD_SIGNATURE,
        use_pubkey=True,
    )
    return out


#: RFC 8032 §7.1 TEST 2 secret key: the attacker's key in the re-signed rewrite.
ATTACKER_SEED_HEX = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"


def _resigned_rewrite(rows: list[Row]) -> list[Row]:
    """Entry 3 changed, all later hashes recomputed, checkpoint entry 4 signed anew."""
    out = list(rows)
    note = json.loads(rows[2].body or b"{}")
    note["signed_off"] = False
    out[2] = _with_payload(rows[2], canonical_bytes(note))
    out = rechain(out, 2)
    attacker = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ATTACKER_SEED_HEX))
    root = root_of([r.leaf for r in out[:3]])
    cp = cpmod.sign(attacker, ORIGIN, 3, root, ts_for(3).replace(".000000", ".500000"), out[2].link)
    payload = cp.as_dict() | {"key": cpmod.fingerprint(attacker.public_key())}
    out[3] = _with_payload(out[3], canonical_bytes(payload))
    return rechain(out, 3)


def _hex_row(t: TinyLedger, r: Row) -> dict[str, Any]:
    body = t.bodies[r.seq]
    salt = salt_for(r.seq)
    return {
        "seq": r.seq,
        "ts": r.ts,
        "kind": r.kind,
        "actor": r.actor,
        "run_id": r.run_id,
        "ref": r.ref,
        "payload_canonical": body.decode("utf-8"),
        "salt": salt.hex(),
        "commitment_input": (b"\x03" + salt + body).hex(),
        "payload_hash": r.payload_hash.hex(),
        "entry": r.entry.decode("utf-8"),
        "entry_hex": r.entry.hex(),
        "leaf_input": (b"\x00" + r.entry).hex(),
        "leaf": r.leaf.hex(),
        "prev": r.prev.hex(),
        "link_input": (b"\x02" + r.prev + r.leaf).hex(),
        "link": r.link.hex(),
        "stored_salt": r.salt.hex() if r.salt is not None else None,
        "stored_payload": r.body.decode("utf-8") if r.body is not None else None,
        "erased_by": r.erased_by,
    }


def _checkpoint_json(cp: cpmod.Checkpoint, t: TinyLedger) -> dict[str, Any]:
    pub = t.key.public_key()
    body = cp.body.encode()
    sig_line = cp.note.split("\n\n", 1)[1]
    raw = base64.b64decode(sig_line.split(" ")[2])
    return {
        "size": cp.size,
        "root": cp.root.hex(),
        "link": cp.link.hex(),
        "time": cp.time,
        "signed_body": cp.body,
        "signed_body_hex": body.hex(),
        "key_hint": cpmod.key_hint(cpmod.KEY_NAME, pub).hex(),
        "signature": raw[4:].hex(),
        "note": cp.note,
    }


def build() -> dict[str, Any]:
    """Every vector, as stored in docs/test-vectors.json."""
    t = TinyLedger()
    pub = t.key.public_key()
    cp3, cp6 = t.checkpoints
    leaves = t.leaves()
    inc_path = inclusion_path(1, 6, t.subtree)
    con_path = consistency_path(3, 6, t.subtree)
    nodes = {
        "node(leaf1,leaf2) = MTH(1..2)": node_hash(leaves[0], leaves[1]).hex(),
        "node(leaf3,leaf4) = MTH(3..4)": node_hash(leaves[2], leaves[3]).hex(),
        "node(MTH(1..2),MTH(3..4)) = MTH(1..4)": root_of(leaves[:4]).hex(),
        "node(leaf5,leaf6) = MTH(5..6)": node_hash(leaves[4], leaves[5]).hex(),
        "node(MTH(1..2),leaf3) = MTH(1..3)": root_of(leaves[:3]).hex(),
        "node(MTH(1..4),leaf5) = MTH(1..5)": root_of(leaves[:5]).hex(),
        "node(MTH(1..4),MTH(5..6)) = MTH(1..6)": root_of(leaves).hex(),
    }
    inclusion_file = {
        "type": "inclusion",
        "version": proofmod.VERSION,
        "origin": ORIGIN,
        "seq": 2,
        "leaf_index": 1,
        "tree_size": 6,
        "entry": exmod.row_to_json(t.rows[1]),
        "path": [h.hex() for h in inc_path],
        "checkpoint": cp6.note,
    }
    consistency_file = {
        "type": "consistency",
        "version": proofmod.VERSION,
        "origin": ORIGIN,
        "old_size": 3,
        "new_size": 6,
        "path": [h.hex() for h in con_path],
        "old_checkpoint": cp3.note,
        "new_checkpoint": cp6.note,
    }
    return {
        "description": "scimtrail ledger format version 1: worked test vectors "
        "(generated by tests/evidence/vectors.py; see docs/ledger-format.md)",
        "format_version": 1,
        "key": {
            "name": cpmod.KEY_NAME,
            "ed25519_secret_seed": SEED_HEX,
            "public_key": cpmod.raw_public(pub).hex(),
            "public_pem": cpmod.public_pem(pub).decode(),
            "key_hint": cpmod.key_hint(cpmod.KEY_NAME, pub).hex(),
            "verifier_key": cpmod.verifier_key(cpmod.KEY_NAME, pub),
            "fingerprint": cpmod.fingerprint(pub),
        },
        "origin": ORIGIN,
        "genesis_link": GENESIS.hex(),
        "empty_root": root_of([]).hex(),
        "entries": [_hex_row(t, r) for r in t.rows],
        "merkle": {
            "roots": {str(n): root_of(leaves[:n]).hex() for n in range(1, 7)},
            "nodes": nodes,
        },
        "checkpoints": [_checkpoint_json(cp, t) for cp in t.checkpoints],
        "inclusion": {
            "seq": 2,
            "tree_size": 6,
            "path": [h.hex() for h in inc_path],
            "root": cp6.root.hex(),
            "file": inclusion_file,
        },
        "consistency": {
            "old_size": 3,
            "new_size": 6,
            "path": [h.hex() for h in con_path],
            "old_root": cp3.root.hex(),
            "new_root": cp6.root.hex(),
            "file": consistency_file,
        },
        "export": "\n".join(export_lines(t.rows)) + "\n",
        "negative": negatives(t),
    }


# -- the doc: blocks between <!-- vector:NAME --> and <!-- /vector --> ------------------------


def _fence(text: str, lang: str = "text") -> str:
    return f"```{lang}\n{text.rstrip(chr(10))}\n```"


def doc_blocks(v: dict[str, Any]) -> dict[str, str]:
    """The text printed in docs/ledger-format.md for each vector block."""
    blocks: dict[str, str] = {}
    k = v["key"]
    blocks["key"] = _fence(
        "\n".join(
            [
                f"Ed25519 secret seed   {k['ed25519_secret_seed']}",
                f"public key (raw)      {k['public_key']}",
                f"key name              {k['name']}",
                f"key hint              {k['key_hint']}",
                f"note verifier key     {k['verifier_key']}",
                f"origin                {v['origin']}",
            ]
        )
        + "\n\n"
        + k["public_pem"]
    )
    for e in v["entries"]:
        lines = [
            f"seq {e['seq']}  ts {e['ts']}  kind {e['kind']}  actor {e['actor']}  "
            f"run {json.dumps(e['run_id'])}  ref {json.dumps(e['ref'])}",
            f"payload (canonical, UTF-8)  {e['payload_canonical']}",
            f"salt                        {e['salt']}",
            f"SHA-256 input 03||salt||payload (hex)\n  {_wrap(e['commitment_input'])}",
            f"payload_hash                {e['payload_hash']}",
            f"entry (envelope, UTF-8)     {e['entry']}",
            f"leaf = SHA-256(00||entry)   {e['leaf']}",
            f"prev                        {e['prev']}",
            f"link input 02||prev||leaf\n  {_wrap(e['link_input'])}",
            f"link                        {e['link']}",
        ]
        if e["erased_by"] is not None:
            lines.append(
                f"stored after erasure: payload null, salt null, erased_by {e['erased_by']}"
            )
        blocks[f"entry{e['seq']}"] = _fence("\n".join(lines))
    m = v["merkle"]
    blocks["merkle"] = _fence(
        "\n".join(
            [f"leaf{i}  {e['leaf']}" for i, e in enumerate(v["entries"], 1)]
            + [""]
            + [f"{name:40s}  {h}" for name, h in m["nodes"].items()]
            + [""]
            + [f"root of size {n}  {h}" for n, h in m["roots"].items()]
            + [f"root of size 0  {v['empty_root']}  (SHA-256 of the empty string)"]
        )
    )
    for cp in v["checkpoints"]:
        blocks[f"checkpoint{cp['size']}"] = _fence(
            cp["note"]
            + "\n"
            + "\n".join(
                [
                    "# signed bytes (hex):",
                    *(f"#   {line.strip()}" for line in _wrap(cp["signed_body_hex"]).split("\n")),
                    f"# key hint {cp['key_hint']}, Ed25519 signature {cp['signature']}",
                ]
            )
        )
    inc = v["inclusion"]
    blocks["inclusion"] = _fence(json.dumps(inc["file"], ensure_ascii=False, indent=2), "json")
    con = v["consistency"]
    blocks["consistency"] = _fence(json.dumps(con["file"], ensure_ascii=False, indent=2), "json")
    blocks["export"] = _fence(v["export"], "json")
    neg_lines = []
    for n in v["negative"]:
        given = f"checkpoint of size {_cp_size(n['checkpoint'])}, key" if n["checkpoint"] else "-"
        neg_lines.append(
            f"| {n['name']} | {n['description']} | {given} | {n['expect']['seq']} | "
            f"{n['expect']['fault']} |"
        )
    blocks["negative"] = "\n".join(
        [
            "| vector | tampering | auditor supplies | first bad seq | fault |",
            "| --- | --- | --- | --- | --- |",
            *neg_lines,
        ]
    )
    return blocks


def _cp_size(note: str) -> int:
    return int(note.split("\n")[1])


def _wrap(h: str, width: int = 96) -> str:
    return "\n  ".join(h[i : i + width] for i in range(0, len(h), width))


_BLOCK = re.compile(r"^(<!-- vector:(\w+) -->\n)(.*?)\n(<!-- /vector -->)$", re.S | re.M)


def doc_vector_blocks(doc: str) -> dict[str, str]:
    found = {m.group(2): m.group(3) for m in _BLOCK.finditer(doc)}
    if len(found) != doc.count("<!-- vector:"):
        raise ValueError("a <!-- vector:NAME --> block in the doc is empty or not closed")
    return found


def render_doc(doc: str, blocks: dict[str, str]) -> str:
    doc_vector_blocks(doc)  # refuse to rewrite a doc whose markers are broken

    def sub(m: re.Match[str]) -> str:
        return m.group(1) + blocks[m.group(2)] + "\n" + m.group(4)

    return _BLOCK.sub(sub, doc)


def to_json(v: dict[str, Any]) -> str:
    return json.dumps(v, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the ledger format test vectors.")
    ap.add_argument("--write", action="store_true", help="rewrite docs/test-vectors.json and doc")
    args = ap.parse_args(argv)
    v = build()
    if not args.write:
        sys.stdout.write(to_json(v))
        return 0
    JSON_PATH.write_text(to_json(v), encoding="utf-8")
    doc = DOC_PATH.read_text(encoding="utf-8")
    DOC_PATH.write_text(render_doc(doc, doc_blocks(v)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
