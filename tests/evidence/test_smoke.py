"""The ledger's basic promise on each backend: what is appended reads back and verifies."""

from __future__ import annotations

from evidence.ledger import Ledger
from evidence.model import NewEntry


def test_appended_entries_read_back_in_order_and_verify(ledger: Ledger) -> None:
    ledger.append("note", {"n": 0}, actor="alice")
    ledger.append_many(
        [NewEntry("scim.exchange", {"n": i}, "bot", run_id="r1") for i in range(1, 4)]
    )
    entries = list(ledger.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert [e.payload["n"] for e in entries] == [0, 1, 2, 3]
    assert {e.run_id for e in entries[1:]} == {"r1"}
    result = ledger.verify()
    assert result.size == 4
    assert result.head_hex == entries[-1].link
