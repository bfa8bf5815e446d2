#!/usr/bin/env python3
"""An independent verifier for scimtrail ledger exports, written from docs/ledger-format.md alone.

It uses the Python standard library and ``cryptography`` (for Ed25519) only, and imports
nothing from scimtrail, so an auditor can read it in one sitting and run it anywhere:

    python verify_ledger_export.py ledger.jsonl [--checkpoint CP.txt ...] [--pubkey ledger.pub]

It recomputes, for every entry line: the canonical envelope from the line's fields, the
leaf, the chain link, the payload commitment (or checks the erasure), the seq contiguity,
the Merkle root at each in-chain checkpoint and the checkpoint signatures; then the footer,
and the root of every checkpoint supplied on the command line (which is what detects a
truncated or rewritten ledger). Exit codes: 0 verified, 3 tampering (the message names the
first bad seq and the fault), 1 unreadable input, 2 usage.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "scimtrail-ledger-export"
KEY_NAME = "scimtrail-ledger"
ZERO = bytes(32)

# The fault names of docs/ledger-format.md §9.
PAYLOAD_CHANGED = "payload changed"
PAYLOAD_MISSING = "payload missing without an erasure entry"
ENTRY_CHANGED = "entry changed"
ENTRY_MISSING = "entry missing (gap)"
REORDERED = "entries reordered"
INSERTED = "entry inserted"
TRUNCATED = "chain truncated relative to a checkpoint"
REWRITTEN = "chain rewritten relative to a checkpoint"
BAD_SIGNATURE = "checkpoint signature invalid"


class Tampered(Exception):
    def __init__(self, seq: int, fault: str, detail: str) -> None:
        super().__init__(f"FAIL at seq {seq}: {fault}: {detail}")
        self.seq = seq
        self.fault = fault


class Unreadable(Exception):
    pass


def sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


# -- RFC 8785 for the envelope's subset: objects of strings, integers and null ----------


def jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            raise ValueError("lone surrogate")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise ValueError(f"the envelope holds only strings, integers and null, not {v!r}")
    if isinstance(v, int):
        if abs(v) > 2**53 - 1:
            raise ValueError("integer outside the I-JSON range")
        return str(v)
    return jcs_string(v)


def jcs_object(obj: dict[str, Any]) -> bytes:
    keys = sorted(obj, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code unit order
    body = ",".join(f"{jcs_string(k)}:{jcs_value(obj[k])}" for k in keys)
    return ("{" + body + "}").encode("utf-8")


def envelope(seq: int, ts: Any, kind: Any, actor: Any, run: Any, ref: Any, phash: str) -> bytes:
    return jcs_object(
        {
            "v": 1,
            "seq": seq,
            "ts": ts,
            "kind": kind,
            "actor": actor,
            "run": run,
            "ref": ref,
            "payload": phash,
        }
    )


# -- Merkle tree (RFC 9162 §2.1.1), kept as a compact range ---------------------------


class Tree:
    """Roots of the perfect subtrees over leaves [0, size), largest first."""

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None) -> None:
        self.size = size
        self.nodes = list(nodes or [])
        if len(self.nodes) != bin(size).count("1"):
            raise Unreadable("the export header's frontier does not fit its first_seq")

    def append(self, leaf: bytes) -> None:
        node, index = leaf, self.size
        while index & 1:
            node = sha256(b"\x01", self.nodes.pop(), node)
            index >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return sha256(b"")
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = sha256(b"\x01", node, acc)
        return acc


# -- checkpoints (C2SP signed notes) ---------------------------------------------------


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    link: bytes | None
    body: bytes
    signatures: list[tuple[str, bytes]] = field(default_factory=list)


def parse_note(text: str, source: str) -> Checkpoint:
    try:
        body, sigs = text.split("\n\n", 1)
        lines = body.split("\n")
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
        link = None
        for extra in lines[3:]:
            name, _, value = extra.partition(" ")
            if name == "link":
                link = base64.b64decode(value, validate=True)
        if len(root) != 32 or size < 0 or lines[1] != str(size):
            raise ValueError("bad size or root")
        signatures = []
        for line in sigs.split("\n"):
            if not line:
                continue
            dash, name, sig = line.split(" ")
            if dash != "\u2014":
                raise ValueError("signature line does not start with an em dash")
            signatures.append((name, base64.b64decode(sig, validate=True)))
    except (ValueError, IndexError, binascii.Error) as exc:
        raise Unreadable(f"{source} is not a signed checkpoint note: {exc}") from exc
    return Checkpoint(origin, size, root, link, (body + "\n").encode("utf-8"), signatures)


def signed_by(cp: Checkpoint, key: Ed25519PublicKey) -> bool:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hint = sha256(KEY_NAME.encode(), b"\n\x01", raw)[:4]
    for name, sig in cp.signatures:
        if name == KEY_NAME and sig[:4] == hint and len(sig) == 68:
            try:
                key.verify(sig[4:], cp.body)
                return True
            except InvalidSignature:
                return False
    return False


# -- the verifier ----------------------------------------------------------------------


def unhex(obj: dict[str, Any], name: str, where: str, size: int | None = 32) -> bytes:
    value = obj.get(name)
    try:
        out = bytes.fromhex(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise Unreadable(f"{where}: {name} is not hex") from exc
    if size is not None and len(out) != size:
        raise Unreadable(f"{where}: {name} is not {size} bytes")
    return out


def claimed_seq(entry: Any) -> Any:
    try:
        return json.loads(entry).get("seq")
    except (ValueError, AttributeError, TypeError):
        return None


@dataclass
class Result:
    first: int
    last: int
    head: bytes
    root: bytes
    erased: int
    in_chain_checkpoints: int
    supplied_checked: int


def parsed(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(lines, 1):
        try:
            yield n, json.loads(line)
        except ValueError as exc:
            raise Unreadable(f"line {n} is not JSON: {exc}") from exc


def verify(
    lines: Iterable[str], supplied: list[Checkpoint], key: Ed25519PublicKey | None
) -> Result:
    """Verify an export given as lines (streamed: memory does not grow with the file)."""
    records = parsed(lines)
    first_line = next(records, None)
    if first_line is None:
        raise Unreadable("the export is empty")
    header = first_line[1]
    if not isinstance(header, dict) or header.get("type") != "header":
        raise Unreadable("the first line is not an export header")
    if header.get("format") != FORMAT or header.get("version") != 1:
        raise Unreadable(f"not a {FORMAT} version 1 file")
    origin = header.get("origin")
    first = header.get("first_seq")
    if not isinstance(first, int) or first < 1:
        raise Unreadable("header first_seq is not a positive integer")
    for cp in supplied:
        if cp.origin != origin:
            raise Tampered(
                0, REWRITTEN, f"a supplied checkpoint is for {cp.origin!r}, not {origin!r}"
            )
        if key is not None and not signed_by(cp, key):
            raise Tampered(cp.size, BAD_SIGNATURE, "a supplied checkpoint is not signed by the key")
        if cp.size < first - 1:
            raise Unreadable(f"the checkpoint of size {cp.size} lies before this export")
    pending = {cp.size: cp for cp in supplied}
    checked = 0
    tree = Tree(first - 1, [unhex({"n": h}, "n", "header frontier") for h in header["frontier"]])
    link = unhex(header, "prev_link", "header")
    if first == 1 and link != ZERO:
        raise Tampered(1, ENTRY_CHANGED, "the chain does not start from 32 zero bytes")
    erasures: dict[int, tuple[int, str]] = {}  # erased seq -> (erasing seq, its payload hash)
    erased = in_chain = 0
    expected = first
    footer = None

    def check_supplied() -> None:
        nonlocal checked
        cp = pending.pop(tree.size, None)
        if cp is not None:
            if cp.root != tree.root():
                raise Tampered(
                    tree.size,
                    REWRITTEN,
                    f"entries 1..{cp.size} do not hash to the supplied checkpoint's root",
                )
            checked += 1

    check_supplied()
    current = next(records, None)
    while current is not None:
        following = next(records, None)
        n, rec = current
        current = following
        if not isinstance(rec, dict):
            raise Unreadable(f"line {n} is not a JSON object")
        if rec.get("type") == "footer":
            if following is not None:
                raise Unreadable(f"line {following[0]}: data after the footer")
            footer = rec
            break
        if rec.get("type") != "entry":
            raise Unreadable(f"line {n} is neither an entry nor the footer")
        where = f"line {n}"
        seq = rec.get("seq")
        if not isinstance(seq, int):
            raise Unreadable(f"{where}: seq is not an integer")
        nxt = following[1] if following is not None else None
        nxt = nxt if isinstance(nxt, dict) and nxt.get("type") == "entry" else None
        # 1. contiguity
        if seq > expected:
            raise Tampered(expected, ENTRY_MISSING, f"the entry after {expected - 1} has seq {seq}")
        if seq < expected:
            raise Tampered(seq, REORDERED, f"seq {seq} appears again after {expected - 1}")
        # 2. the envelope must claim this seq
        text = rec.get("entry")
        if not isinstance(text, str):
            raise Unreadable(f"{where}: entry is not a string")
        entry = text.encode("utf-8")
        claim = claimed_seq(text)
        if claim != seq:
            if nxt is not None and claimed_seq(nxt.get("entry")) == seq:
                raise Tampered(seq, REORDERED, f"the entry written as seq {claim} sits at {seq}")
            if isinstance(claim, int) and claim < seq:
                raise Tampered(seq, INSERTED, f"the entry written as seq {claim} sits at {seq}")
            if isinstance(claim, int):
                raise Tampered(
                    seq, ENTRY_MISSING, f"the entry written as seq {claim} sits at {seq}"
                )
            raise Tampered(seq, ENTRY_CHANGED, "the entry is not a JSON envelope with a seq")
        # 3. linkage
        prev = unhex(rec, "prev", where)
        if prev != link:
            if nxt is not None and unhex(nxt, "prev", where) == link:
                raise Tampered(
                    seq, INSERTED, f"seq {seq + 1} chains to seq {seq - 1}, not to {seq}"
                )
            if seq == 1:
                raise Tampered(1, ENTRY_CHANGED, "the first entry does not start from genesis")
            raise Tampered(seq - 1, ENTRY_CHANGED, f"seq {seq} is chained to another seq {seq - 1}")
        leaf = sha256(b"\x00", entry)
        if leaf != unhex(rec, "leaf", where):
            raise Tampered(seq, ENTRY_CHANGED, "the entry bytes do not hash to the stored leaf")
        new_link = sha256(b"\x02", prev, leaf)
        if new_link != unhex(rec, "link", where):
            raise Tampered(seq, ENTRY_CHANGED, "the stored link is not SHA-256(02||prev||leaf)")
        # 4. the envelope is the canonical form of the line's fields
        phash = unhex(rec, "payload_hash", where)
        try:
            canon = envelope(
                seq,
                rec.get("ts"),
                rec.get("kind"),
                rec.get("actor"),
                rec.get("run_id"),
                rec.get("ref"),
                phash.hex(),
            )
        except ValueError as exc:
            raise Tampered(
                seq, ENTRY_CHANGED, f"a column cannot be in the envelope: {exc}"
            ) from exc
        if canon != entry:
            raise Tampered(seq, ENTRY_CHANGED, "a column differs from the hashed envelope")
        # 5. payload commitment or erasure
        payload, salt_hex = rec.get("payload"), rec.get("salt")
        if payload is None:
            by = rec.get("erased_by")
            if salt_hex is not None or not isinstance(by, int) or by <= seq:
                raise Tampered(seq, PAYLOAD_MISSING, "the payload is gone")
            erasures[seq] = (by, phash.hex())
            erased += 1
        else:
            salt = unhex(rec, "salt", where, size=None) if salt_hex is not None else None
            if not isinstance(payload, str) or salt is None:
                raise Tampered(seq, PAYLOAD_CHANGED, "payload without a salt")
            if sha256(b"\x03", salt, payload.encode("utf-8")) != phash:
                raise Tampered(seq, PAYLOAD_CHANGED, "the payload does not match its commitment")
        kind = rec.get("kind")
        if kind == "erasure" and isinstance(rec.get("ref"), int) and rec["ref"] in erasures:
            by, target_hash = erasures.pop(rec["ref"])
            if by != seq:
                raise Tampered(rec["ref"], PAYLOAD_MISSING, f"erasure recorded at {by}, not {seq}")
            if payload is not None:
                data = json.loads(payload)
                if data.get("erased_seq") != rec["ref"] or data.get("payload_hash") != target_hash:
                    raise Tampered(seq, PAYLOAD_MISSING, "the erasure names another payload")
        # 6. an in-chain checkpoint commits to the entries before it
        if kind == "checkpoint" and payload is not None:
            try:
                cp = parse_note(json.loads(payload)["note"], f"checkpoint entry {seq}")
            except (KeyError, TypeError, ValueError) as exc:
                raise Tampered(seq, ENTRY_CHANGED, "the checkpoint entry has no note") from exc
            if cp.origin != origin or cp.size != tree.size or cp.root != tree.root():
                raise Tampered(
                    seq,
                    REWRITTEN,
                    f"checkpoint entry {seq} signed a tree the entries before it no longer produce",
                )
            if cp.link is not None and cp.link != link:
                raise Tampered(seq, REWRITTEN, f"checkpoint entry {seq} names another chain link")
            if key is not None and not signed_by(cp, key):
                raise Tampered(
                    seq, BAD_SIGNATURE, f"checkpoint entry {seq} is not signed by the key"
                )
            in_chain += 1
        tree.append(leaf)
        link = new_link
        expected = seq + 1
        check_supplied()
    last = expected - 1
    if erasures:
        seq = min(erasures)
        raise Tampered(
            seq,
            PAYLOAD_MISSING,
            f"payload cleared citing erasure {erasures[seq][0]}, which does not name it",
        )
    if pending:
        size = min(pending)
        raise Tampered(
            last + 1,
            TRUNCATED,
            f"a supplied checkpoint covers {size} entries, the export ends at {last}",
        )
    if footer is None:
        raise Tampered(last + 1, TRUNCATED, "the file has no footer: it was cut short")
    if footer.get("count") != last - first + 1 or header.get("last_seq") != last:
        raise Tampered(
            last + 1, TRUNCATED, "header or footer promise a different number of entries"
        )
    if footer.get("root") != tree.root().hex() or footer.get("head_link") != link.hex():
        raise Tampered(last, ENTRY_CHANGED, "the footer's root or head link does not match")
    return Result(first, last, link, tree.root(), erased, in_chain, checked)


def load_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Unreadable(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise Unreadable(f"{path} is not an Ed25519 public key")
    return key


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Verify a scimtrail ledger export (JSON Lines).")
    ap.add_argument("export", type=Path, help="the export file")
    ap.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a checkpoint kept elsewhere (repeatable); the export must match it",
    )
    ap.add_argument("--pubkey", type=Path, help="Ed25519 public key (PEM) of the ledger")
    args = ap.parse_args(argv)
    try:
        key = load_key(args.pubkey) if args.pubkey else None
        cps = []
        for p in args.checkpoint:
            try:
                cps.append(parse_note(p.read_text(encoding="utf-8"), str(p)))
            except (OSError, UnicodeDecodeError) as exc:
                raise Unreadable(f"cannot read {p}: {exc}") from exc
        try:
            with args.export.open(encoding="utf-8") as fh:
                result = verify(fh, cps, key)
        except (OSError, UnicodeDecodeError) as exc:
            raise Unreadable(f"cannot read {args.export}: {exc}") from exc
    except Tampered as exc:
        print(exc, file=sys.stderr)
        return 3
    except Unreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    notes = []
    if result.erased:
        notes.append(f"{result.erased} payloads erased")
    if result.in_chain_checkpoints:
        notes.append(f"{result.in_chain_checkpoints} checkpoints in the chain")
    if cps:
        notes.append(f"matches {result.supplied_checked} supplied checkpoint(s)")
    if key is None:
        notes.append("signatures NOT checked (no --pubkey)")
    print(
        f"OK: entries {result.first}..{result.last}, head {result.head.hex()}, "
        f"root {result.root.hex()}" + (f" ({'; '.join(notes)})" if notes else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
