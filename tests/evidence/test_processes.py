"""Real processes: concurrent writers form one chain; a killed writer loses whole batches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from evidence.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]


def writer(db: str, name: str, batches: int, size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.evidence.writer", db, name, str(batches), str(size)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_four_concurrent_writer_processes_form_one_unbroken_chain(db_url: str) -> None:
    Ledger.init(db_url)
    procs = [writer(db_url, f"w{i}", 60, 1 if i % 2 else 25) for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    expected = {"w0": 60 * 25, "w1": 60, "w2": 60 * 25, "w3": 60}
    with Ledger.open(db_url) as ledger:
        result = ledger.verify()
        assert result.size == sum(expected.values())
        assert Counter(e.actor for e in ledger.entries()) == expected
        # each batch is contiguous: a transaction is never interleaved with another writer's
        runs = {}
        for e in ledger.entries(kind="scim.exchange"):
            if e.run_id:
                runs.setdefault(e.run_id, []).append(e.seq)
        for seqs in runs.values():
            assert seqs == list(range(seqs[0], seqs[0] + 25))


@pytest.mark.slow
def test_a_writer_killed_mid_batch_leaves_whole_batches_and_a_ledger_that_verifies(
    db_url: str,
) -> None:
    Ledger.init(db_url)
    batch = 3000
    proc = writer(db_url, "victim", 1000, batch)
    assert proc.stdout is not None
    committed = [proc.stdout.readline() for _ in range(2)]
    assert all(line.startswith("committed") for line in committed), committed
    time.sleep(0.05 + (os.getpid() % 7) / 100)  # land somewhere inside a later batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Ledger.open(db_url) as ledger:
        result = ledger.verify()
        assert result.size >= 2 * batch
        assert result.size % batch == 0, f"a partial batch survived: {result.size} entries"
        assert ledger.head().size == result.size
        # the ledger stays writable after the crash
        ledger.append("note", {"after": "crash"}, actor="test")
        assert ledger.verify().size == result.size + 1
