"""PostgreSQL chains plain appends in the server (``scimtrail_append``): the same bytes.

The verifier recomputes envelopes, leaves and links in Python, so a function that built
other bytes fails ``verify``; these tests also hold the Merkle frontier and the stored
nodes, which verification never trusts, to what the Python tree computes.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evidence import checkpoint as cpmod
from evidence import ledger as ledger_module
from evidence.chain import entry_bytes
from evidence.ledger import Ledger
from evidence.merkle import Frontier
from evidence.model import NewEntry
from evidence.tree_store import NODE_LEVEL

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def entries(n: int, tag: str) -> list[NewEntry]:
    return [
        NewEntry(
            "scim.exchange" if i % 2 else "note",
            {"i": i, "name": 'محمد "Lee"\n', "tag": tag},
            'actor "é"\\' if i % 3 == 0 else "provisioner",
            run_id=f"run-{tag}" if i % 4 else None,
            ref=i + 1 if i % 5 == 0 else None,
        )
        for i in range(n)
    ]


def test_server_side_appends_build_the_python_bytes_frontier_and_nodes(pg_url: str) -> None:
    Ledger.init(pg_url)
    with Ledger.open(pg_url) as ledger:
        ledger.append("note", {"first": True}, actor="test")
        for n in (1, 62, 64, 1, 200, 3):  # across many 64-leaf subtree boundaries
            ledger.append_many(entries(n, str(n)))
        result = ledger.verify()
        assert result.size == 332
        rows = list(ledger.rows())
        frontier = Frontier()
        want_nodes = {}
        for r in rows:
            assert r.entry == entry_bytes(
                r.seq, r.ts, r.kind, r.actor, r.run_id, r.ref, r.payload_hash
            )
            for level, idx, h in frontier.append(r.leaf):
                if level >= NODE_LEVEL:
                    want_nodes[(level, idx)] = h
        with ledger.engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT level, idx, hash FROM ledger_nodes").all()
            size, link, fbytes = conn.exec_driver_sql(
                "SELECT size, link, frontier FROM ledger_head"
            ).one()
        assert {(lv, i): bytes(h) for lv, i, h in stored} == want_nodes
        assert len(want_nodes) == 5 + 2 + 1  # five 64-leaf subtrees, two of 128, one of 256
        assert (size, bytes(fbytes)) == (332, frontier.to_bytes())
        assert bytes(link) == result.head_link
        assert frontier.root() == result.root


def test_server_timestamps_follow_seq_across_concurrent_writers(
    pg_url: str, tmp_path: Path
) -> None:
    # plain appends (chained in the server) and checkpoints, erasures and append_once
    # (chained by the client under the lock) all take their time from the server's clock
    Ledger.init(pg_url)
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            with Ledger.open(pg_url) as ledger:
                for i in range(15):
                    if tag == "w0" and i % 5 == 4:
                        ledger.checkpoint(key)
                        ledger.erase(
                            ledger.append("note", {"w": tag}, actor=tag).seq, reason="t", actor=tag
                        )
                    elif tag == "w1" and i % 5 == 4:
                        ledger.append_once([NewEntry("test.run", {"i": i}, tag)], lambda p: p["i"])
                    else:
                        ledger.append("note", {"w": tag}, actor=tag)
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with Ledger.open(pg_url) as ledger:
        assert ledger.verify(ledger.checkpoints(), key.public_key()).size == 60 + 3 * 2
        stored = list(ledger.entries())
        stamps = [e.ts for e in stored]
        kinds = {e.kind for e in stored}
        cp_times = [cp.time for cp in ledger.checkpoints()]
    assert kinds == {"note", "checkpoint", "erasure", "test.run"}
    assert all(min(stamps) <= t <= max(stamps) for t in cp_times)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ts) for ts in stamps)
    assert stamps == sorted(stamps)  # read under the lock: the sequencer's clock


def test_every_kind_of_write_takes_the_servers_time_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's clock is wrong (2099): PostgreSQL entries and checkpoints ignore it."""

    class WrongClock(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> WrongClock:
            return cls(2099, 1, 1, tzinfo=tz)

    monkeypatch.setattr(ledger_module, "datetime", WrongClock)
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    for url in (pg_url, f"sqlite:///{tmp_path / 'l.db'}"):
        Ledger.init(url)
        with Ledger.open(url) as ledger:
            seq = ledger.append("note", {"a": 1}, actor="t").seq
            ledger.append_once([NewEntry("test.run", {"id": 1}, "ci")], lambda p: p["id"])
            ledger.erase(seq, reason="test", actor="t")
            cp = ledger.checkpoint(key)
            years = {e.ts[:4] for e in ledger.entries()} | {cp.time[:4]}
            assert ledger.verify().size == 4
        # SQLite: the writing process is the sequencer, so its clock is the one recorded
        assert years == (
            {"2099"} if url.startswith("sqlite") else {str(datetime.date.today().year)}
        )


def test_a_ledger_clock_of_its_own_is_what_the_server_records(pg_url: str) -> None:
    Ledger.init(pg_url)
    with Ledger.open(pg_url, clock=lambda: "2026-07-01T09:00:00.000000Z") as ledger:
        out = ledger.append_many(entries(3, "clock"))
        assert {a.ts for a in out} == {"2026-07-01T09:00:00.000000Z"}
        assert [e.ts for e in ledger.entries()] == ["2026-07-01T09:00:00.000000Z"] * 3
        assert [a.link for a in out] == [e.link for e in ledger.entries()]
        assert ledger.verify().size == 3


# Each runs in a separate process, so that a hang fails instead of stalling the suite.
_BIG_BATCH = """
out = ledger.append_many(
    [NewEntry("scim.exchange", {"i": i, "blob": "x" * 4000}, "big") for i in range(10_000)]
)
print(out[-1].seq)
"""
_BIG_ONCE = """
out = ledger.append_once(
    [NewEntry("test.run", {"id": "big", "blob": "x" * 20_000_000}, "ci")],
    key=lambda p: p["id"],
)
print(out.appended[0].seq)
"""


@pytest.mark.parametrize(
    ("write", "size"),
    [
        # 10,000 entries of ~4 KB in one scimtrail_append call: a 40 MB message, which
        # deadlocked psycopg's pipeline mode (psycopg#685)
        pytest.param(_BIG_BATCH, 10_000, id="one-40MB-batch-in-the-server"),
        # append_once takes the client-side path (lock, recheck, chain); one 20 MB entry
        # deadlocked it while it ran in pipeline mode
        pytest.param(_BIG_ONCE, 1, id="one-20MB-entry-recorded-once"),
    ],
)
def test_very_large_writes_are_appended_without_hanging(pg_url: str, write: str, size: int) -> None:
    code = (
        "from evidence.ledger import Ledger\n"
        "from evidence.model import NewEntry\n"
        f"ledger = Ledger.open({pg_url!r})\n" + write + "ledger.close()\n"
    )
    Ledger.init(pg_url)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(size)
    with Ledger.open(pg_url) as ledger:
        assert ledger.verify().size == size
