"""`scimtrail report pack` and `verify-pack` through the umbrella CLI: output and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from evidence.ledger import Ledger
from reports.sign import make_self_signed
from scimtrail.cli import main
from tests.reports.pack_seed import seed
from tests.reports.test_pack import current_period


@pytest.fixture
def seeded_db(tmp_path: Path) -> str:
    db = str(tmp_path / "ledger.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        seed(ledger, people=10)
    make_self_signed(tmp_path / "signer.key", tmp_path / "signer.pem", "CLI test signer")
    return db


def _pack_args(db: str, d: Path, out: Path) -> list[str]:
    return [
        "report", "pack", "--db", db, "--period", current_period().label, "--out", str(out),
        "--key", str(d / "ledger.pem"), "--sign-key", str(d / "signer.key"),
        "--sign-cert", str(d / "signer.pem"), "--seed", "auditor-42", "--sample", "3",
    ]  # fmt: skip


@pytest.mark.slow
def test_pack_then_verify_pack_exit_zero_and_say_what_they_did(
    seeded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack.pdf"
    assert main(_pack_args(seeded_db, tmp_path, out)) == 0
    said = capsys.readouterr().out
    assert "written to" in said
    assert "unsigned PDF sha256" in said
    assert "report.generated" in said
    assert main(["ledger", "pubkey", "--key", str(tmp_path / "ledger.pem"),
                 "--out", str(tmp_path / "ledger.pub")]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["report", "verify-pack", str(out), "--pubkey", str(tmp_path / "ledger.pub"),
                 "--cert", str(tmp_path / "signer.pem")])  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0, said
    assert said.count("OK: ") == 7
    assert "VERIFIED: pack SP-" in said
    assert "seed 'auditor-42'" in said


@pytest.mark.slow
def test_verify_pack_exits_3_naming_the_mismatch(
    seeded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack.pdf"
    assert main(_pack_args(seeded_db, tmp_path, out)) == 0
    writer = PdfWriter(clone_from=PdfReader(out))
    writer.add_attachment("extra.txt", b"planted")
    buf = io.BytesIO()
    writer.write(buf)  # rewrites the file: the signature no longer covers it
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(buf.getvalue())
    capsys.readouterr()
    assert main(["report", "verify-pack", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "MISMATCH in" in err


def test_pack_with_a_bad_period_is_a_usage_error_not_a_traceback(
    seeded_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _pack_args(seeded_db, tmp_path, tmp_path / "p.pdf")
    args[args.index("--period") + 1] = "2026-Q7"
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "2026-Q7" in err
    assert "Traceback" not in err


def test_verify_pack_of_a_file_that_is_not_a_pdf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    code = main(["report", "verify-pack", str(junk)])
    assert code == 3
    assert "MISMATCH" in capsys.readouterr().err


def test_every_command_in_the_readme_audit_packs_section_exists() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Audit packs") :]
    lines = [ln for ln in section.splitlines() if ln.startswith("scimtrail ")]
    assert {ln.split()[2] for ln in lines} == {"pack", "verify-pack"}
    for line in lines:
        assert main([*line.split()[1:3], "--help"]) == 0, line


@pytest.mark.slow
def test_two_processes_write_byte_identical_unsigned_pdfs(seeded_db: str, tmp_path: Path) -> None:
    """Fonts are subset and dates set the same way in a fresh process (no hidden clock)."""
    import re
    import subprocess
    import sys

    digests = []
    for n in (1, 2):
        args = _pack_args(seeded_db, tmp_path, tmp_path / f"p{n}.pdf")
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "scimtrail"), *args],
            capture_output=True, text=True, check=False, timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        digests.append(re.search(r"unsigned PDF sha256 ([0-9a-f]{64})", proc.stdout).group(1))  # type: ignore[union-attr]
    assert digests[0] == digests[1]
    first, second = (tmp_path / "p1.pdf").read_bytes(), (tmp_path / "p2.pdf").read_bytes()
    assert first != second  # the signatures differ (signing time) ...
    from reports.sign import check_pdf_signature

    n1 = check_pdf_signature(first).unsigned_length
    assert first[:n1] == second[:n1]  # ... the signed content does not
