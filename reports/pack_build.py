"""Build a signed audit pack from the ledger.

Steps: pick the checkpoint the pack is built against (the first one signed after the
period ended, signing one when there is none); re-walk the chain ``1..size`` against
it while scanning the entries (:mod:`reports.pack`); compute metrics
(:mod:`reports.metrics`); draw the samples and their inclusion proofs; write the
attachments and the manifest; sign the manifest (Ed25519); render HTML → PDF; sign
the PDF (PAdES); append ``report.generated`` to the ledger.

Everything inside the unsigned PDF depends only on the ledger entries ``1..size``, the
period and the options, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence import checkpoint as cpmod
from evidence import proofs
from evidence.canonical import canonical_bytes
from evidence.chain import ChainVerifier, ExpectedRoot, VerifyResult
from evidence.export import write_export
from evidence.ledger import Ledger, utc_now
from reports import pack as packdata
from reports import pack_findings
from reports.controls import Catalogue, load_catalogue
from reports.coverage import compute_coverage
from reports.errors import CatalogueError
from reports.frames import load_frames
from reports.metrics import Sla, compute_metrics
from reports.pack_errors import SigningSetupError
from reports.pack_findings import findings
from reports.pack_sections import Sections, scimtrail_git_sha, scimtrail_version, sections
from reports.pdf import FileAttachment, html_to_pdf
from reports.periods import Period
from reports.render import TEMPLATES
from reports.sampling import Selection, select
from reports.sign import PdfSigner, load_pdf_signer, sign_manifest, sign_pdf

STRATA = ("joiners", "movers", "leavers")
MANIFEST_FORMAT = "scimtrail-audit-pack-manifest"
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PackOptions:
    period: Period
    seed: str | None = None  # default: the period label
    sample: int | None = None
    organisation: str = "Example Organisation"
    system: str = "Identity provisioning over SCIM 2.0 (scimtrail)"
    classification: str = "Confidential: prepared for the named recipient"
    recipient: str = "External auditor"
    catalogue: Path | None = None
    junit_dir: Path | None = None
    ledger_key: Path | None = None  # Ed25519 (checkpoints, manifest); default as `ledger`
    pdf_key: Path | None = None
    pdf_cert: Path | None = None
    sign_pdf: bool = True
    actor: str = "scimtrail-report"
    retention_days: int = 365

    @property
    def seed_value(self) -> str:
        return self.seed or self.period.label


@dataclass(frozen=True, slots=True)
class PackResult:
    pack_id: str
    out: Path
    pages: int
    unsigned_sha256: str
    signed_sha256: str
    manifest_sha256: str
    checkpoint_size: int
    report_seq: int
    attachments: int
    exceptions: int
    timings: dict[str, float] = field(default_factory=dict)


# -- checkpoint and chain -------------------------------------------------------------------
_NOT_EVIDENCE = frozenset({"report.generated", "checkpoint"})


def checkpoint_for(ledger: Ledger, period: Period, key: Any, actor: str) -> cpmod.Checkpoint:
    """The checkpoint a pack is built against, chosen so that re-running gives the same pack.

    A period that has ended uses the first checkpoint signed at or after its end. A period
    still running uses the latest checkpoint, unless evidence was appended after it
    (anything but packs and checkpoints). Otherwise a new checkpoint is signed.
    """
    cps = ledger.checkpoints()
    if period.until <= utc_now():
        for cp in cps:
            if cp.time >= period.until:
                return cp
    elif cps:
        latest = cps[-1]
        newer = (e.kind for e in ledger.entries(after_seq=latest.size))
        if all(kind in _NOT_EVIDENCE for kind in newer):
            return latest
    return ledger.checkpoint(key, actor=actor)


def export_bytes(ledger: Ledger, first: int, last: int, exported_at: str, period: Period) -> bytes:
    """Entries ``first..last`` in the ledger export format, with a fixed ``exported_at``
    so the bytes are reproducible."""
    buf = io.BytesIO()
    write_export(
        ledger, buf, first, last, exported_at=exported_at, since=period.since, until=period.until
    )
    return buf.getvalue()


def verify_and_scan(
    ledger: Ledger, cp: cpmod.Checkpoint, pubkey: Any, period: Period
) -> tuple[VerifyResult, packdata.Scan]:
    """Re-walk entries 1..cp.size against the checkpoint while scanning them."""
    scan = packdata.Scan(period, cp.size)
    verifier = ChainVerifier(
        [ExpectedRoot(cp.size, cp.root, f"checkpoint of size {cp.size}")],
        checkpoint_check=cpmod.in_chain_checker(pubkey),
    )
    result = verifier.run(packdata.observe(ledger.rows(1, cp.size), scan))
    return result, scan


# -- catalogue --------------------------------------------------------------------------------
def _catalogue(path: Path | None) -> tuple[Catalogue | None, str]:
    try:
        return load_catalogue(path), ""
    except CatalogueError as exc:
        return None, exc.message


def _owner(cat: Catalogue | None) -> str:
    """Who answers for exceptions: the owner of the key control with the SLA parameter."""
    if cat is not None:
        for c in cat.controls.values():
            if "sla_business_days" in c.parameters:
                return c.owner
        for c in cat.controls.values():
            return c.owner
    return "owner not recorded (no control catalogue)"


def _junit(directory: Path | None, wanted: set[str]) -> tuple[list[FileAttachment], int]:
    """JUnit XML files whose SHA-256 a test.run entry of the period recorded."""
    if directory is None or not directory.is_dir():
        return [], 0
    found, unmatched = [], 0
    for f in sorted(directory.rglob("*.xml")):
        data = f.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in wanted:
            found.append(
                FileAttachment(f"junit-{digest[:12]}-{f.name}", data, f"JUnit XML {f.name}")
            )
            wanted.discard(digest)
        else:
            unmatched += 1
    return found, unmatched


# -- the build --------------------------------------------------------------------------------
def build_pack(
    ledger: Ledger, options: PackOptions, out: Path, progress: Progress | None = None
) -> PackResult:
    """Build, sign and write the pack to ``out``; record it in the ledger."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    key = cpmod.load_or_create_key(options.ledger_key or cpmod.default_key_path())
    pubkey = key.public_key()
    signer: PdfSigner | None = None
    if options.sign_pdf:
        if options.pdf_key is None or options.pdf_cert is None:
            raise SigningSetupError("--sign-key/--sign-cert", "no key and certificate were given")
        signer = load_pdf_signer(options.pdf_key, options.pdf_cert)
    say("checkpoint")
    cp = checkpoint_for(ledger, options.period, key, options.actor)
    say(f"re-walk the chain 1..{cp.size} against the checkpoint and scan the period")
    chain, scan = verify_and_scan(ledger, cp, pubkey, options.period)
    cat, cat_problem = _catalogue(options.catalogue)
    owner = _owner(cat)
    frames = load_frames(ledger, options.period)
    cov = (
        compute_coverage(ledger, options.period, catalogue=cat, frames=frames, verify=True)
        if cat is not None
        else None
    )
    sla = cov.sla if cov is not None else Sla()
    metrics = compute_metrics(ledger, options.period, sla, frames=frames)
    say("sample and prove")
    seed = options.seed_value
    pops = packdata.populations(scan)
    by_key = {p.key: p for p in pops}
    selections = [
        select(k, [int(r[0]) for r in by_key[k].rows], seed, options.sample) for k in STRATA
    ]
    proof_docs: list[dict[str, Any]] = []
    for sel in selections:
        for seq in sel.seqs:
            doc = proofs.inclusion(ledger, seq, cp)
            proofs.verify(doc, pubkey)
            proof_docs.append(doc)
    timings["queries"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    as_of = cp.time
    first = scan.period_first_seq or cp.size
    export = export_bytes(ledger, first, cp.size, as_of, options.period)
    tested = {str(p.get("junit_sha256")) for _s, _t, p in scan.tests if p.get("junit_sha256")}
    junit, junit_unmatched = _junit(options.junit_dir, set(tested))
    recon = pack_findings.reconcile(scan)
    found = findings(scan, metrics, recon, owner=owner)
    pack_id = _pack_id(ledger, options, cp, sla)
    secs: Sections = sections(
        ledger=ledger, options=options, pack_id=pack_id, cp=cp, chain=chain, scan=scan,
        metrics=metrics, catalogue=cat, coverage=cov, catalogue_problem=cat_problem,
        populations=pops,
        selections=selections, proof_docs=proof_docs, recon=recon, findings=found,
        junit=junit, junit_unmatched=junit_unmatched, pubkey=pubkey,
    )  # fmt: skip
    attachments = [
        FileAttachment("ledger-export.jsonl", export,
                       f"Ledger entries {first}..{cp.size} (scimtrail-ledger-export v1)"),
        *[FileAttachment(p.attachment, p.csv, p.title) for p in pops],
        FileAttachment("exceptions.csv", secs.exceptions_csv, "Every exception of the period"),
        FileAttachment("control-mapping.csv", secs.mapping_csv,
                       "SCIM operation → requirement → evidence"),
        FileAttachment("samples.json", secs.samples_json,
                       "Sample selections and Merkle inclusion proofs"),
        FileAttachment("checkpoint.txt", cp.note.encode(), "Signed ledger checkpoint"),
        FileAttachment("ledger-pubkey.pem", cpmod.public_pem(pubkey), "Ed25519 public key"),
        *junit,
    ]  # fmt: skip
    manifest = _manifest(
        pack_id, options, ledger, cp, scan, first, selections, attachments, sla,
        cpmod.fingerprint(pubkey),
    )  # fmt: skip
    manifest_sha = hashlib.sha256(manifest).hexdigest()
    attachments += [
        FileAttachment("manifest.json", manifest, "Manifest: every attachment with SHA-256"),
        FileAttachment("manifest.sig.json", sign_manifest(manifest, key),
                       "Detached Ed25519 signature of manifest.json"),
    ]  # fmt: skip
    timings["assembly"] = time.perf_counter() - t1

    say("render")
    t2 = time.perf_counter()
    html = secs.html(manifest_sha=manifest_sha, attachments=attachments, signer=signer)
    when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    rendered = html_to_pdf(
        html, base_url=TEMPLATES, attachments=attachments, identifier=pack_id, when=when
    )
    timings["rendering"] = time.perf_counter() - t2
    unsigned_sha = hashlib.sha256(rendered.pdf).hexdigest()

    say("sign")
    t3 = time.perf_counter()
    final = sign_pdf(rendered.pdf, signer, pack_id=pack_id) if signer else rendered.pdf
    timings["signing"] = time.perf_counter() - t3
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(final)
    tmp.replace(out)
    signed_sha = hashlib.sha256(final).hexdigest()
    rec = ledger.append(
        "report.generated",
        {
            "pack_id": pack_id,
            "period": {"from": options.period.start.isoformat(),
                       "to": options.period.end.isoformat(), "label": options.period.label},
            "manifest_sha256": manifest_sha,
            "pdf_sha256": unsigned_sha,
            "signed_pdf_sha256": signed_sha,
            "checkpoint_size": cp.size,
            "pages": rendered.pages,
        },
        actor=options.actor,
    )  # fmt: skip
    return PackResult(
        pack_id, out, rendered.pages, unsigned_sha, signed_sha, manifest_sha, cp.size, rec.seq,
        len(attachments), len(found), timings,
    )  # fmt: skip


def _pack_id(ledger: Ledger, options: PackOptions, cp: cpmod.Checkpoint, sla: Sla) -> str:
    basis = "|".join(
        [ledger.origin, options.period.since, options.period.until, str(cp.size),
         cp.root.hex(), options.seed_value, str(options.sample), repr(sla)]
    )  # fmt: skip
    return "SP-" + hashlib.sha256(basis.encode()).hexdigest()[:12].upper()


def _manifest(
    pack_id: str,
    options: PackOptions,
    ledger: Ledger,
    cp: cpmod.Checkpoint,
    scan: packdata.Scan,
    first: int,
    selections: list[Selection],
    attachments: list[FileAttachment],
    sla: Sla,
    fingerprint: str,
) -> bytes:
    doc = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "pack_id": pack_id,
        "period": {"label": options.period.label, "from": options.period.start.isoformat(),
                   "to": options.period.end.isoformat(), "since": options.period.since,
                   "until": options.period.until, "timezone": "UTC"},
        "ledger": {"id": ledger.ledger_id, "origin": ledger.origin,
                   "export": {"first_seq": first, "last_seq": cp.size},
                   "period_seqs": [scan.period_first_seq, scan.period_last_seq]},
        "checkpoint": {"size": cp.size, "root": cp.root.hex(), "time": cp.time,
                       "key_fingerprint": fingerprint},
        "sampling": {
            "method": "SHA-256(seed \\n stratum \\n seq), ascending; first n",
            "seed": options.seed_value,
            "requested": options.sample,
            "strata": [{"stratum": s.stratum, "population": s.population, "size": s.size,
                        "basis": s.basis, "seqs": list(s.seqs),
                        "population_file": f"population-{s.stratum}.csv"} for s in selections],
        },
        "sla": sla.as_dict(),
        "generator": {"name": "scimtrail", "version": scimtrail_version(),
                      "git_sha": scimtrail_git_sha()},
        "attachments": [{"name": a.name, "sha256": hashlib.sha256(a.data).hexdigest(),
                         "bytes": len(a.data), "description": a.description}
                        for a in attachments],
    }  # fmt: skip
    return canonical_bytes(doc)


__all__ = ["PackOptions", "PackResult", "build_pack", "checkpoint_for", "export_bytes"]
