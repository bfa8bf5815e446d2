"""append_once: what is already recorded is not recorded again, even when writers race."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from evidence.ledger import Ledger
from evidence.model import NewEntry


def _key(payload: Any) -> Any:
    return payload.get("sha")


def test_known_keys_and_repeats_within_the_batch_are_skipped(ledger: Ledger) -> None:
    ledger.append("git.commit", {"sha": "a1"}, actor="ci")
    ledger.append("note", {"sha": "b2"}, actor="ci")  # another kind: not a match
    batch = [NewEntry("git.commit", {"sha": s}, "ci") for s in ("a1", "b2", "c3", "b2")]
    once = ledger.append_once(batch, _key)
    assert [e.payload["sha"] for e in once.recorded] == ["b2", "c3"]
    assert [e.payload["sha"] for e in once.skipped] == ["a1", "b2"]
    assert [a.seq for a in once.appended] == [3, 4]
    assert ledger.recorded_keys("git.commit", _key) == {"a1", "b2", "c3"}
    assert ledger.append_once(batch, _key).appended == []


def test_an_entry_another_writer_records_after_the_scan_is_not_recorded_twice(
    ledger: Ledger, db_url: str
) -> None:
    """The other writer appends while append_once reads what is stored, before its lock."""
    ledger.append("git.commit", {"sha": "seen"}, actor="ci")
    raced: list[int] = []

    def key(payload: Any) -> Any:
        if not raced:  # first call: append_once is scanning the stored entries
            with Ledger.open(db_url) as other:
                raced.append(other.append("git.commit", {"sha": "new"}, actor="other").seq)
        return payload.get("sha")

    batch = [
        NewEntry("git.commit", {"sha": "new"}, "ci"),
        NewEntry("git.commit", {"sha": "x"}, "ci"),
    ]
    once = ledger.append_once(batch, key)
    assert raced == [2]
    assert [e.payload["sha"] for e in once.skipped] == ["new"]
    assert [e.payload["sha"] for e in once.recorded] == ["x"]
    shas = [e.payload["sha"] for e in ledger.entries(kind="git.commit")]
    assert sorted(shas) == ["new", "seen", "x"]
    assert ledger.verify().size == 3


def _racer(db: str, rounds: int, barrier: Any, out: Any) -> None:
    with Ledger.open(db) as ledger:
        for r in range(rounds):
            barrier.wait(timeout=60)
            once = ledger.append_once([NewEntry("deploy", {"sha": f"round-{r}"}, "ci")], _key)
            out.put((r, len(once.appended)))


def test_four_processes_recording_the_same_items_record_each_once(
    ledger: Ledger, db_url: str
) -> None:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    rounds = 6
    procs = [ctx.Process(target=_racer, args=(db_url, rounds, barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(4 * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for r in range(rounds):
        assert sum(n for rr, n in results if rr == r) == 1, f"round {r}: {results}"
    shas = sorted(e.payload["sha"] for e in ledger.entries(kind="deploy"))
    assert shas == sorted(f"round-{r}" for r in range(rounds))
    assert ledger.verify().size == rounds
