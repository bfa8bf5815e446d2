"""evidence.query: the lean read path the reports use, on both backends."""

from __future__ import annotations

import orjson

from evidence import query
from evidence.ledger import Ledger
from tests.reports.seeding import Seeder


def test_stream_returns_raw_rows_of_the_kinds_and_range_asked(seeder: Seeder) -> None:
    led = seeder.ledger
    seeder.at("2026-06-30T23:59:59").add("note", {"n": 1})
    seeder.at("2026-07-01T00:00:00").add("note", {"n": 2})
    seeder.add("deploy", {"env": "prod"})
    seeder.at("2026-10-01T00:00:00").add("note", {"n": 3})
    rows = [
        r
        for part in query.stream(led, ["note"], since="2026-07-01T00:00:00.000000Z",
                                 until="2026-10-01T00:00:00.000000Z")
        for r in part
    ]  # fmt: skip
    assert [(r[0], r[2], orjson.loads(r[5])) for r in rows] == [(2, "note", {"n": 2})]
    assert isinstance(rows[0][5], bytes)
    everything = [r[0] for part in query.stream(led, ["note", "deploy"], batch=1) for r in part]
    assert everything == [1, 2, 3, 4]
    bounded = [r[0] for part in query.stream(led, ["note"], after_seq=1, until_seq=2) for r in part]
    assert bounded == [2]
    assert list(query.stream(led, [])) == []


def test_erased_payloads_come_back_as_none(seeder: Seeder) -> None:
    seq = seeder.add("note", {"person": "x"})
    seeder.ledger.erase(seq, reason="GDPR art. 17", actor="dpo")
    rows = [r for part in query.stream(seeder.ledger, ["note"]) for r in part]
    assert rows[0][5] is None


def test_stats_report_size_range_gaps_and_erasures(ledger: Ledger) -> None:
    assert query.stats(ledger).count == 0
    assert query.stats(ledger).gapless
    ledger.append("note", {"a": 1}, actor="t")
    ledger.append("note", {"a": 2}, actor="t")
    ledger.erase(1, reason="test", actor="dpo")
    st = query.stats(ledger)
    assert (st.count, st.first_seq, st.last_seq, st.erased, st.gapless) == (3, 1, 3, 1, True)
    assert st.first_ts is not None
    assert st.last_ts is not None
    assert st.first_ts <= st.last_ts
