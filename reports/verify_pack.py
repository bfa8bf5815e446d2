"""Verify an audit pack offline: ``scimtrail report verify-pack pack.pdf``.

Checks, in order, stopping at the first mismatch (raised as :class:`PackMismatch`,
exit code 3, naming the item):

1. the PAdES signature covers the whole file and is intact; the unsigned PDF it records
   is the file's prefix (against ``--cert`` when given);
2. the embedded files: ``manifest.json`` and its Ed25519 signature (against ``--pubkey``
   when given, else the key inside the pack, which proves integrity but not origin);
3. every attachment's size and SHA-256 against the manifest; nothing missing or extra;
4. the checkpoint's signature, and that the manifest names the same checkpoint;
5. the ledger export: every hash and link re-walked and the tree equal to the checkpoint;
6. the joiner, mover and leaver populations recomputed from the export equal the CSVs;
7. the samples re-selected from the seed equal the manifest's, and every sample's Merkle
   inclusion proof verifies against the checkpoint and matches the export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence import checkpoint as cpmod
from evidence import proofs
from evidence.canonical import loads
from evidence.chain import Row
from evidence.errors import IntegrityError, ScimtrailError
from evidence.export import json_to_row, verify_export
from reports import pack as packdata
from reports.pack_errors import PackMismatch, PackOptionError
from reports.periods import Period
from reports.sampling import select
from reports.sign import check_pdf_signature, verify_manifest

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig.json"
Say = Callable[[str], None]


@dataclass
class PackVerification:
    pack_id: str = ""
    checks: list[str] = field(default_factory=list)


def read_attachments(data: bytes) -> dict[str, bytes]:
    """The embedded files of a PDF, by name; a name used twice is a mismatch.

    pypdf refuses to inflate more than 75 MB from one stream (a zip-bomb guard); a pack's
    ledger export is larger, so the limit becomes 50 times the size of the file (the
    export compresses about 10:1), which still stops a bomb.
    """
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import PyPdfError

    limit = max(75_000_000, 50 * len(data))
    try:
        with apply_configuration(
            zlib_maximum_output_length=limit, maximum_declared_stream_length=len(data)
        ):
            found = PdfReader(io.BytesIO(data)).attachments
            out: dict[str, bytes] = {}
            for name, contents in found.items():
                if len(contents) != 1:
                    raise PackMismatch(name, f"the PDF embeds {len(contents)} files of this name")
                out[name] = contents[0]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise PackMismatch("the PDF", f"its embedded files cannot be read ({exc})") from exc
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(files: dict[str, bytes]) -> dict[str, Any]:
    if MANIFEST not in files:
        raise PackMismatch(MANIFEST, "the pack has no manifest.json attachment")
    try:
        doc = loads(files[MANIFEST])
    except ValueError as exc:
        raise PackMismatch(MANIFEST, "not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != "scimtrail-audit-pack-manifest":
        raise PackMismatch(MANIFEST, "not a scimtrail audit pack manifest")
    return doc


def _key(files: dict[str, bytes], pubkey: Path | None) -> tuple[Ed25519PublicKey, str]:
    attached = files.get("ledger-pubkey.pem")
    with tempfile.TemporaryDirectory() as tmp:
        if attached is not None:
            p = Path(tmp) / "attached.pem"
            p.write_bytes(attached)
            try:
                inside = cpmod.load_public_key(p)
            except ScimtrailError as exc:
                raise PackMismatch("ledger-pubkey.pem", "not an Ed25519 public key") from exc
        else:
            inside = None
    if pubkey is None:
        if inside is None:
            raise PackMismatch("ledger-pubkey.pem", "missing, and no --pubkey was given")
        return inside, "the key inside the pack (integrity only: pass --pubkey to check origin)"
    trusted = cpmod.load_public_key(pubkey)
    if inside is not None and cpmod.raw_public(inside) != cpmod.raw_public(trusted):
        raise PackMismatch(
            "ledger-pubkey.pem",
            f"the pack carries key {cpmod.fingerprint(inside)}, not your "
            f"{cpmod.fingerprint(trusted)}",
        )
    return trusted, f"your key {pubkey}"


def _csv_seqs(data: bytes, name: str) -> list[int]:
    try:
        return [int(r["seq"]) for r in csv.DictReader(io.StringIO(data.decode("utf-8")))]
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise PackMismatch(name, "not a population CSV with a seq column") from exc


def _export_rows(data: bytes) -> Iterator[Row]:
    for n, line in enumerate(io.BytesIO(data), 1):
        obj = loads(line)
        if isinstance(obj, dict) and obj.get("type") == "entry":
            yield json_to_row(obj, f"ledger-export.jsonl line {n}")


def verify_pack(
    pdf: Path,
    *,
    pubkey: Path | None = None,
    cert: Path | None = None,
    allow_unsigned: bool = False,
    say: Say | None = None,
) -> PackVerification:
    """Run every check; raise :class:`PackMismatch` (exit 3) naming the first failure."""
    out = PackVerification()

    def ok(msg: str) -> None:
        out.checks.append(msg)
        if say is not None:
            say(f"OK: {msg}")

    try:
        data = pdf.read_bytes()
    except OSError as exc:
        raise PackOptionError("PACK", str(pdf), f"a readable PDF file ({exc.strerror})") from exc
    if allow_unsigned and b"/ByteRange" not in data:
        ok("no PDF signature (allowed by --allow-unsigned)")
    else:
        sig = check_pdf_signature(data, cert)
        trust = "against your certificate" if sig.trusted else "self-consistent (pass --cert)"
        ok(
            f"PDF signature by {sig.signer} intact and covering the whole file, {trust}; "
            f"unsigned PDF sha256 {sig.unsigned_sha256[:16]}…"
        )
    files = read_attachments(data)
    manifest = _manifest(files)
    out.pack_id = str(manifest.get("pack_id", ""))
    key, key_src = _key(files, pubkey)
    if MANIFEST_SIG not in files:
        raise PackMismatch(MANIFEST_SIG, "the manifest's signature is missing")
    verify_manifest(files[MANIFEST], files[MANIFEST_SIG], key)
    ok(f"manifest.json ({_sha(files[MANIFEST])[:16]}…) signed by {key_src}")
    listed = {a["name"]: a for a in manifest.get("attachments", [])}
    for name, entry in listed.items():
        if name not in files:
            raise PackMismatch(name, "listed in the manifest but not embedded in the PDF")
        got = files[name]
        if _sha(got) != entry["sha256"] or len(got) != entry["bytes"]:
            raise PackMismatch(
                name,
                f"SHA-256 {_sha(got)[:16]}… differs from the manifest's {entry['sha256'][:16]}…",
            )
    extra = sorted(set(files) - set(listed) - {MANIFEST, MANIFEST_SIG})
    if extra:
        raise PackMismatch(extra[0], "embedded in the PDF but not listed in the manifest")
    ok(f"{len(listed)} attachments match the manifest's SHA-256 and sizes")
    cp = _checkpoint(files, manifest, key)
    ok(f"checkpoint of size {cp.size} signed by the ledger key; root {cp.root.hex()[:16]}…")
    _verify_export(files, manifest, cp, key)
    ok(f"ledger export re-walked: entries {manifest['ledger']['export']['first_seq']}.."
       f"{cp.size} hash to the checkpoint's root")  # fmt: skip
    period = _period(manifest)
    scan = packdata.scan(_export_rows(files["ledger-export.jsonl"]), period, cp.size)
    recomputed = {
        p.key: [int(r[0]) for r in p.rows]
        for p in packdata.populations(scan)
        if p.key in ("joiners", "movers", "leavers")
    }
    strata = manifest["sampling"]["strata"]
    for s in strata:
        name = f"population-{s['stratum']}.csv"
        if name not in files:
            raise PackMismatch(name, "missing")
        if _csv_seqs(files[name], name) != recomputed[s["stratum"]]:
            raise PackMismatch(
                name, f"differs from the {s['stratum']} recomputed from ledger-export.jsonl"
            )
    ok("joiner, mover and leaver populations recomputed from the export equal the CSVs")
    _verify_samples(files, manifest, cp, key)
    count = sum(len(s["seqs"]) for s in strata)
    ok(
        f"samples re-selected from seed {manifest['sampling']['seed']!r}: {count} events, "
        "each with a verified inclusion proof"
    )
    return out


def _checkpoint(files: dict[str, bytes], manifest: dict[str, Any], key: Any) -> cpmod.Checkpoint:
    raw = files.get("checkpoint.txt")
    if raw is None:
        raise PackMismatch("checkpoint.txt", "missing")
    try:
        cp = cpmod.parse(raw.decode("utf-8"), "checkpoint.txt")
        cpmod.verify(cp, key, "checkpoint.txt")
    except ScimtrailError as exc:
        raise PackMismatch("checkpoint.txt", exc.message) from exc
    want = manifest.get("checkpoint", {})
    if want.get("size") != cp.size or want.get("root") != cp.root.hex():
        raise PackMismatch("checkpoint.txt", "not the checkpoint the manifest names")
    if cp.origin != manifest.get("ledger", {}).get("origin"):
        raise PackMismatch("checkpoint.txt", f"for ledger {cp.origin}, not the manifest's")
    return cp


def _verify_export(
    files: dict[str, bytes], manifest: dict[str, Any], cp: cpmod.Checkpoint, key: Any
) -> None:
    data = files.get("ledger-export.jsonl")
    if data is None:
        raise PackMismatch("ledger-export.jsonl", "missing")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger-export.jsonl"
        path.write_bytes(data)
        try:
            result = verify_export(path, [cp], key)
        except ScimtrailError as exc:
            kind = "does not match the checkpoint" if isinstance(exc, IntegrityError) else "bad"
            raise PackMismatch("ledger-export.jsonl", f"{kind}: {exc.message}") from exc
    if result.size != cp.size:
        raise PackMismatch(
            "ledger-export.jsonl", f"ends at seq {result.size}, the checkpoint at {cp.size}"
        )
    first = manifest["ledger"]["export"]["first_seq"]
    header = loads(data.split(b"\n", 1)[0])
    if header.get("first_seq") != first or header.get("origin") != cp.origin:
        raise PackMismatch("ledger-export.jsonl", "not the range or ledger the manifest names")


def _period(manifest: dict[str, Any]) -> Period:
    from datetime import date

    p = manifest["period"]
    period = Period(date.fromisoformat(p["from"]), date.fromisoformat(p["to"]), p["label"])
    if period.since != p["since"] or period.until != p["until"]:
        raise PackMismatch(MANIFEST, "its period bounds are inconsistent")
    return period


def _verify_samples(
    files: dict[str, bytes], manifest: dict[str, Any], cp: cpmod.Checkpoint, key: Any
) -> None:
    sampling = manifest["sampling"]
    samples = loads(files["samples.json"])
    wanted = {int(seq) for s in sampling["strata"] for seq in s["seqs"]}
    export: dict[int, Any] = {}
    for line in io.BytesIO(files["ledger-export.jsonl"]):
        obj = loads(line)
        if isinstance(obj, dict) and obj.get("type") == "entry" and obj.get("seq") in wanted:
            export[int(obj["seq"])] = obj
    by_seq = {int(d["seq"]): d for d in samples.get("proofs", [])}
    for s in sampling["strata"]:
        name = f"population-{s['stratum']}.csv"
        again = select(s["stratum"], _csv_seqs(files[name], name), sampling["seed"],
                       sampling.get("requested"))  # fmt: skip
        if list(again.seqs) != list(s["seqs"]):
            raise PackMismatch(
                "samples", f"re-running the selection of {s['stratum']} from the seed gives "
                f"{list(again.seqs)[:5]}…, the pack shows {list(s['seqs'])[:5]}…"
            )  # fmt: skip
        for seq in s["seqs"]:
            doc = by_seq.get(int(seq))
            if doc is None:
                raise PackMismatch("samples.json", f"no inclusion proof for sampled seq {seq}")
            if doc.get("checkpoint") != cp.note:
                raise PackMismatch(
                    "samples.json", f"seq {seq} is proved against another checkpoint"
                )
            try:
                proofs.verify(doc, key)
            except ScimtrailError as exc:
                raise PackMismatch("samples.json", f"seq {seq}: {exc.message}") from exc
            if export.get(int(seq)) != doc.get("entry"):
                raise PackMismatch("samples.json", f"seq {seq} differs from the export's entry")


__all__ = ["PackVerification", "read_attachments", "verify_pack"]
