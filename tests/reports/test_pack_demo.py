"""`make demo`'s main job, end to end: a real scim2-server, three runs, a verified pack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pdfplumber
import pytest
from pypdf import PdfReader

from evidence.ledger import Ledger

MOVER_ROW = re.compile(r"^movers (E\d+) ")


@pytest.mark.slow
def test_the_demo_provisions_a_quarter_and_produces_a_verified_pack(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "scimtrail.demo", "--out", str(out)],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = proc.stdout
    assert "Verification: VERIFIED (7 checks passed)" in said
    assert "run 2 (through a 2.5 s storm of 429s" in said
    assert "retries" in said
    assert "a copy with one byte changed is refused: MISMATCH" in said
    assert "stopped" in said  # the server was shut down
    pdf = next(out.glob("audit-pack-*.pdf"))
    assert len(PdfReader(pdf).pages) > 10
    # sampled movers (PATCH, whose bodies name nobody) are shown under their account's
    # displayName; the external id is only the cell's second line ("movers E2239 …")
    with pdfplumber.open(pdf) as doc:
        texts = [page.extract_text() or "" for page in doc.pages]
    lines = "\n".join(t for t in texts if "7. Sampling" in t).splitlines()
    movers = [(lines[i - 1], m[1]) for i, line in enumerate(lines) if (m := MOVER_ROW.match(line))]
    assert movers, "the sampling table lists movers"
    assert all(ext not in first for first, ext in movers), movers
    with Ledger.open(str(out / "scimtrail.db")) as ledger:
        kinds = {e.kind for e in ledger.entries()}
        ledger.verify()
        rejected = list(ledger.entries(kind="hr.rejected"))
        reactivated = [
            e for e in ledger.entries(kind="scim.exchange")
            if e.payload["operation"] == "reactivate" and e.payload["outcome"] == "ok"
        ]  # fmt: skip
        retried = [
            e for e in ledger.entries(kind="scim.exchange")
            if (e.payload.get("response") or {}).get("status") == 429
        ]  # fmt: skip
    assert {"git.commit", "test.run", "deploy", "run.started", "plan.recorded",
            "scim.exchange", "run.finished", "checkpoint", "report.generated"} <= kinds  # fmt: skip
    assert rejected, "the bad HR row is recorded"
    assert len(reactivated) == 1, "the rehire is reactivated, not recreated"
    assert retried, "the 429 storm is in the evidence"
    assert "demo-bearer-token-do-not-log" not in proc.stdout + proc.stderr
