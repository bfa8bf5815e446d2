"""The audit pack read back: sections, numbers, attachments, signatures, tampering."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pdfplumber
import pytest
from pypdf import PdfReader, PdfWriter

from evidence import checkpoint as cpmod
from evidence.canonical import canonical_bytes
from evidence.ledger import Ledger
from reports.pack_build import PackOptions, PackResult, build_pack
from reports.pack_errors import PackMismatch, SigningSetupError
from reports.periods import Period, parse_period
from reports.sign import check_pdf_signature, make_self_signed, sign_manifest, sign_pdf
from reports.verify_pack import read_attachments, verify_pack
from tests.reports.pack_seed import NAMES, Seeded, seed

HEADINGS = [
    "2. How to verify this pack",
    "3. Executive summary",
    "4. Scope",
    "5. Control catalogue and crosswalk",
    "6. Populations",
    "7. Sampling",
    "8. Joiners, movers and leavers: timeliness",
    "9. Change management",
    "10. Automated test evidence",
    "11. Logging and integrity",
    "12. Exceptions and corrective actions",
    "13. SCIM operation → requirement → evidence",
]


def current_period() -> Period:
    from datetime import UTC, datetime

    today = datetime.now(UTC).date()
    return parse_period(f"{today.year}-Q{(today.month - 1) // 3 + 1}")


@dataclass
class Built:
    db: str
    dir: Path
    pdf: Path
    result: PackResult
    seeded: Seeded
    options: PackOptions

    @property
    def data(self) -> bytes:
        return self.pdf.read_bytes()


def options_for(d: Path, **kw: object) -> PackOptions:
    if not (d / "signer.pem").exists():
        make_self_signed(d / "signer.key", d / "signer.pem", "Pack signer (test)")
    base = dict(
        period=current_period(),
        ledger_key=d / "ledger-ed25519.pem",
        pdf_key=d / "signer.key",
        pdf_cert=d / "signer.pem",
        junit_dir=d / "junit",
    )
    base.update(kw)
    return PackOptions(**base)  # type: ignore[arg-type]


def build(db: str, d: Path, *, people: int = 24) -> Built:
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        seeded = seed(ledger, people=people)
        (d / "junit").mkdir(exist_ok=True)
        (d / "junit" / "provisioner.xml").write_bytes(seeded.junit)
        opts = options_for(d)
        result = build_pack(ledger, opts, d / "pack.pdf")
    return Built(db, d, d / "pack.pdf", result, seeded, opts)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    d = tmp_path_factory.mktemp("pack")
    return build(str(d / "ledger.db"), d)


def pdf_text(data: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


@pytest.mark.slow
def test_pack_builds_verifies_and_is_recorded_on_both_backends(
    ledger: Ledger, tmp_path: Path
) -> None:
    seed(ledger, people=12)
    result = build_pack(ledger, options_for(tmp_path), tmp_path / "pack.pdf")
    report = verify_pack(tmp_path / "pack.pdf", pubkey=None, cert=tmp_path / "signer.pem")
    assert report.pack_id == result.pack_id
    entry = ledger.get(result.report_seq)
    assert entry.kind == "report.generated"
    assert entry.payload["pack_id"] == result.pack_id
    assert entry.payload["manifest_sha256"] == result.manifest_sha256
    assert entry.payload["pdf_sha256"] == result.unsigned_sha256
    assert hashlib.sha256((tmp_path / "pack.pdf").read_bytes()).hexdigest() == (
        result.signed_sha256
    )


def test_sections_appear_in_order_with_page_x_of_y(built: Built) -> None:
    pages = pdf_text(built.data)
    where: dict[str, tuple[int, int]] = {}
    for i, page in enumerate(pages[1:], 1):  # page 1 holds the table of contents
        for j, line in enumerate(page.splitlines()):
            for h in HEADINGS:
                if line.strip().startswith(h) and not line.strip().startswith("Audit pack"):
                    where.setdefault(h, (i, j))
    assert list(where) == HEADINGS, [p.splitlines()[:3] for p in pages]
    assert list(where.values()) == sorted(where.values())
    n = len(pages)
    assert n == built.result.pages
    assert f"page 1 of {n}" in pages[0]
    assert f"page {n} of {n}" in pages[-1]
    assert built.result.pack_id in pages[1]


def test_numbers_in_the_pdf_equal_those_computed_from_the_ledger(built: Built) -> None:
    with Ledger.open(built.db) as ledger:
        ok = [
            e.payload for e in ledger.entries(kind="scim.exchange") if e.payload["outcome"] == "ok"
        ]
    joiners = sum(1 for p in ok if p["operation"] == "create")
    leavers = sum(1 for p in ok if p["operation"] == "deactivate")
    movers = len({p["external_id"] for p in ok if p["operation"] == "update"})
    assert (joiners, movers, leavers) == (
        built.seeded.joiners,
        built.seeded.movers,
        built.seeded.leavers,
    )
    text = "\n".join(pdf_text(built.data))
    summary = text[text.find("\n3. Executive summary\n", 2000) :].splitlines()
    assert summary[2] == f"{joiners} {movers} {leavers}"  # the first row of figures
    assert summary[3].startswith("joiners (accounts created) movers (accounts modified) leavers")
    flat = " ".join(summary)
    files = read_attachments(built.data)
    for name, want in (("joiners", joiners), ("leavers", leavers)):
        rows = list(csv.DictReader(io.StringIO(files[f"population-{name}.csv"].decode())))
        assert len(rows) == want
    # the late leaver is a breach, listed by its external id in section 8
    jml = text[text.find("8. Joiners, movers and leavers", 2000) :]
    assert built.seeded.late_leaver in jml
    breaches = next(i for i, line in enumerate(summary) if "SLA breaches" in line)
    assert summary[breaches - 1].split()[-1] == "1", summary[breaches - 1]
    assert "SLA breaches" in flat


def test_attachments_are_embedded_with_the_hashes_the_manifest_and_the_body_state(
    built: Built,
) -> None:
    files = read_attachments(built.data)
    manifest = json.loads(files["manifest.json"])
    assert hashlib.sha256(files["manifest.json"]).hexdigest() == built.result.manifest_sha256
    names = {a["name"] for a in manifest["attachments"]}
    assert {"ledger-export.jsonl", "population-joiners.csv", "population-leavers.csv",
            "checkpoint.txt", "ledger-pubkey.pem", "control-mapping.csv", "samples.json",
            "exceptions.csv"} <= names  # fmt: skip
    assert any(n.startswith("junit-") for n in names), "the recorded JUnit file is attached"
    body = " ".join(" ".join(pdf_text(built.data)[:4]).split())
    for a in manifest["attachments"]:
        assert hashlib.sha256(files[a["name"]]).hexdigest() == a["sha256"]
        assert a["sha256"][:32] in body.replace(" ", ""), a["name"]
    assert built.result.manifest_sha256 in body.replace(" ", "")


def test_no_secret_reaches_the_pack(built: Built) -> None:
    files = read_attachments(built.data)
    assert all(b"canary-secret-token" not in v for v in files.values())
    assert "canary-secret-token" not in "\n".join(pdf_text(built.data))


@pytest.mark.slow
def test_same_ledger_and_options_give_a_byte_identical_unsigned_pdf(built: Built) -> None:
    with Ledger.open(built.db) as ledger:
        again = build_pack(ledger, built.options, built.dir / "again.pdf")
    assert again.unsigned_sha256 == built.result.unsigned_sha256
    assert again.checkpoint_size == built.result.checkpoint_size
    first = built.data
    second = (built.dir / "again.pdf").read_bytes()
    length = check_pdf_signature(first).unsigned_length
    assert first[:length] == second[:length]
    assert hashlib.sha256(first[:length]).hexdigest() == built.result.unsigned_sha256


def test_verify_pack_passes_on_the_untouched_pack(built: Built) -> None:
    pub = built.dir / "trusted.pub"
    pub.write_bytes(cpmod.public_pem(cpmod.load_private_key(built.dir / "ledger-ed25519.pem")))
    report = verify_pack(built.pdf, pubkey=pub, cert=built.dir / "signer.pem")
    assert len(report.checks) == 7


def _unsigned(data: bytes) -> bytes:
    return data[: check_pdf_signature(data).unsigned_length]


def _replace(data: bytes, replace: dict[str, bytes]) -> bytes:
    """Rewrite the embedded files named in ``replace`` (an attacker with pypdf)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_unsigned(data))))
    names = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(names), 2):
        if names[i] in replace:
            names[i + 1].get_object()["/EF"]["/F"].get_object().set_data(replace[names[i]])
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _resign(built: Built, unsigned: bytes, out: Path) -> Path:
    attacker = make_self_signed(built.dir / "evil.key", built.dir / "evil.pem", "Mallory")
    out.write_bytes(sign_pdf(unsigned, attacker, pack_id="SP-EVIL"))
    return out


def test_a_tampered_attachment_fails_naming_it(built: Built) -> None:
    files = read_attachments(built.data)
    doctored = files["population-leavers.csv"].replace(built.seeded.late_leaver.encode(), b"E0")
    assert doctored != files["population-leavers.csv"]
    forged = _resign(built, _replace(built.data, {"population-leavers.csv": doctored}),
                     built.dir / "tampered.pdf")  # fmt: skip
    with pytest.raises(PackMismatch) as err:
        verify_pack(forged)
    assert err.value.item == "population-leavers.csv"
    assert "differs from the manifest" in err.value.detail
    assert err.value.exit_code == 3
    with pytest.raises(PackMismatch, match="not the certificate"):
        verify_pack(forged, cert=built.dir / "signer.pem")


def test_a_changed_byte_in_the_pdf_fails_the_signature(built: Built) -> None:
    data = bytearray(built.data)
    at = len(data) // 3
    data[at] ^= 0x01
    bad = built.dir / "flipped.pdf"
    bad.write_bytes(bytes(data))
    with pytest.raises(PackMismatch) as err:
        verify_pack(bad)
    assert err.value.item in ("the PDF signature", "the PDF")


@pytest.mark.slow
def test_a_swapped_ledger_export_fails(built: Built, tmp_path: Path) -> None:
    other = build(str(tmp_path / "other.db"), tmp_path, people=12)
    foreign = read_attachments(other.data)["ledger-export.jsonl"]
    # 1. swapped alone: the manifest's hash no longer matches
    forged = _resign(built, _replace(built.data, {"ledger-export.jsonl": foreign}),
                     built.dir / "swapped.pdf")  # fmt: skip
    with pytest.raises(PackMismatch) as err:
        verify_pack(forged)
    assert err.value.item == "ledger-export.jsonl"
    # 2. an insider re-signs the manifest with the ledger key: the chain check catches it
    files = read_attachments(built.data)
    manifest = json.loads(files["manifest.json"])
    for a in manifest["attachments"]:
        if a["name"] == "ledger-export.jsonl":
            a["sha256"] = hashlib.sha256(foreign).hexdigest()
            a["bytes"] = len(foreign)
    new_manifest = canonical_bytes(manifest)
    key = cpmod.load_private_key(built.dir / "ledger-ed25519.pem")
    forged = _resign(
        built,
        _replace(built.data, {"ledger-export.jsonl": foreign, "manifest.json": new_manifest,
                              "manifest.sig.json": sign_manifest(new_manifest, key)}),
        built.dir / "swapped-resigned.pdf",
    )  # fmt: skip
    with pytest.raises(PackMismatch) as err:
        verify_pack(forged)
    assert err.value.item == "ledger-export.jsonl"
    assert "checkpoint" in err.value.detail


def test_verify_pack_refuses_a_foreign_public_key(built: Built, tmp_path: Path) -> None:
    other = cpmod.load_or_create_key(tmp_path / "other.pem")
    pub = tmp_path / "other.pub"
    pub.write_bytes(cpmod.public_pem(other))
    with pytest.raises(PackMismatch) as err:
        verify_pack(built.pdf, pubkey=pub)
    assert err.value.item == "ledger-pubkey.pem"


def test_pages_render_to_png_and_none_is_blank(built: Built) -> None:
    from PIL import Image

    out = built.dir / "png"
    out.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(built.pdf), str(out / "p")], check=True)
    pngs = sorted(out.glob("p-*.png"))
    assert len(pngs) == built.result.pages
    for png in pngs:
        img = Image.open(png).convert("L")
        dark = sum(img.histogram()[:200])
        assert dark > 0.005 * img.width * img.height, f"{png.name} looks blank"


def test_arabic_names_are_set_in_an_arabic_font(built: Built) -> None:
    reader = PdfReader(io.BytesIO(built.data))
    fonts: set[str] = set()
    for page in reader.pages:
        res = page.get("/Resources") or {}
        for f in (res.get("/Font") or {}).values():
            fonts.add(str(f.get_object().get("/BaseFont")))
    assert any("Arabic" in f for f in fonts), fonts
    text = "\n".join(pdf_text(built.data))
    latin_parts = [n for n in NAMES if n.isascii()]
    assert any(n in text for n in latin_parts)


def test_missing_signing_certificate_is_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger, pytest.raises(SigningSetupError, match="no key"):
        build_pack(
            ledger,
            PackOptions(period=current_period(), ledger_key=tmp_path / "k.pem"),
            tmp_path / "p.pdf",
        )


@pytest.mark.slow
def test_an_empty_period_gives_an_unsigned_draft_that_says_so(built: Built) -> None:
    """A period with no entries still builds, states the gaps plainly and verifies."""
    opts = options_for(built.dir, period=parse_period("2025-Q1"), sign_pdf=False)
    with Ledger.open(built.db) as ledger:
        result = build_pack(ledger, opts, built.dir / "empty.pdf")
    text = " ".join(" ".join(pdf_text((built.dir / "empty.pdf").read_bytes())).split())
    assert "This is an UNSIGNED draft" in text
    assert "The ledger holds no entries in this period." in text
    assert "No events to sample" in text
    assert "No test.run entries in the period." in text
    with pytest.raises(PackMismatch, match="no signature"):
        verify_pack(built.dir / "empty.pdf")
    report = verify_pack(built.dir / "empty.pdf", allow_unsigned=True)
    assert report.pack_id == result.pack_id


def test_a_second_signature_appended_to_the_pack_is_refused(built: Built) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    make_self_signed(built.dir / "second.key", built.dir / "second.pem", "Second signer")
    signer = signers.SimpleSigner.load(str(built.dir / "second.key"), str(built.dir / "second.pem"))
    meta = signers.PdfSignatureMetadata(
        field_name="Countersignature", subfilter=fields.SigSeedSubFilter.PADES
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(built.data))
    twice = built.dir / "twice.pdf"
    twice.write_bytes(signers.PdfSigner(meta, signer).sign_pdf(writer).getvalue())
    with pytest.raises(PackMismatch, match="2 signatures"):
        verify_pack(twice)
