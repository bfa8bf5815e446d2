"""Tampering through raw SQL is refused by the database, and detected by verify when forced.

Each test tampers as an attacker with database access would: through the driver,
dropping the append-only triggers first when they are in the way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from evidence import checkpoint as cpmod
from evidence.errors import CheckpointMismatch, Fault, IntegrityError, LedgerError, LedgerTampered
from evidence.ledger import Ledger
from evidence.model import NewEntry
from tests.evidence.tamper import raw, rewrite_from, tamper


def fill(ledger: Ledger, n: int = 8) -> None:
    ledger.append_many(
        [
            NewEntry("scim.exchange", {"op": "create", "user": f"u{i}", "n": i}, "bot")
            for i in range(1, n + 1)
        ]
    )


def fault_of(ledger: Ledger, **kwargs: object) -> IntegrityError:
    with pytest.raises(IntegrityError) as info:
        ledger.verify(**kwargs)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 2",
        "UPDATE ledger_entries SET body = NULL, salt = NULL, erased_by = 5 WHERE seq = 2",
        "DELETE FROM ledger_entries WHERE seq = 8",
        "DELETE FROM ledger_nodes",
        "UPDATE ledger_meta SET value = 'other' WHERE key = 'ledger_id'",
    ],
)
def test_the_database_refuses_updates_and_deletes_of_ledger_rows(
    ledger: Ledger, statement: str
) -> None:
    fill(ledger, 70)  # enough entries for stored Merkle nodes
    with pytest.raises(DatabaseError, match="append-only"):
        raw(ledger, statement)
    assert ledger.verify().size == 70
    assert ledger.get(2).actor == "bot"


@pytest.mark.postgres
def test_postgres_refuses_truncate(pg_url: str) -> None:
    Ledger.init(pg_url)
    with Ledger.open(pg_url) as ledger:
        fill(ledger)
        with pytest.raises(DatabaseError, match="append-only"):
            raw(ledger, "TRUNCATE ledger_entries")
        assert ledger.verify().size == 8


def test_a_changed_payload_is_named_with_its_seq(ledger: Ledger) -> None:
    fill(ledger)
    tamper(
        ledger,
        "UPDATE ledger_entries SET body = :b WHERE seq = 3",
        b=b'{"n":3,"op":"delete","user":"u3"}',
    )
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (3, Fault.PAYLOAD_CHANGED)


def test_a_changed_column_is_an_entry_change(ledger: Ledger) -> None:
    fill(ledger)
    tamper(ledger, "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 5")
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (5, Fault.ENTRY_CHANGED)


def test_changed_entry_bytes_are_an_entry_change(ledger: Ledger) -> None:
    fill(ledger)
    row = ledger.row(4)
    forged = row.entry.replace(b'"actor":"bot"', b'"actor":"eve"')
    assert forged != row.entry
    tamper(ledger, "UPDATE ledger_entries SET entry = :e, actor = 'eve' WHERE seq = 4", e=forged)
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (4, Fault.ENTRY_CHANGED)


def test_a_deleted_entry_is_a_gap(ledger: Ledger) -> None:
    fill(ledger)
    tamper(ledger, "DELETE FROM ledger_entries WHERE seq = 3")
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (3, Fault.ENTRY_MISSING)


def test_two_swapped_entries_are_reported_as_reordered(ledger: Ledger) -> None:
    fill(ledger)
    tamper(
        ledger,
        "UPDATE ledger_entries SET seq = 1000003 WHERE seq = 3",
        "UPDATE ledger_entries SET seq = 3 WHERE seq = 4",
        "UPDATE ledger_entries SET seq = 4 WHERE seq = 1000003",
    )
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (3, Fault.REORDERED)


def test_an_entry_inserted_in_the_middle_is_reported(ledger: Ledger) -> None:
    fill(ledger)
    shift = [f"UPDATE ledger_entries SET seq = {s + 1} WHERE seq = {s}" for s in range(8, 2, -1)]
    tamper(
        ledger,
        *shift,
        "INSERT INTO ledger_entries (seq, ts, kind, actor, run_id, ref, payload_hash, entry, leaf, "
        "prev, link, salt, body, erased_by) SELECT 3, ts, kind, 'mallory', run_id, ref, "
        "payload_hash, entry, leaf, :p, :l, salt, body, erased_by "
        "FROM ledger_entries WHERE seq = 2",
        p=b"\x01" * 32,
        l=b"\x02" * 32,
    )
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (3, Fault.INSERTED)


def test_a_payload_removed_without_an_erasure_entry_is_tampering(ledger: Ledger) -> None:
    fill(ledger)
    tamper(ledger, "UPDATE ledger_entries SET body = NULL, salt = NULL WHERE seq = 6")
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (6, Fault.PAYLOAD_MISSING)


def test_a_payload_removed_citing_a_fake_erasure_is_tampering(ledger: Ledger) -> None:
    fill(ledger)
    tamper(
        ledger, "UPDATE ledger_entries SET body = NULL, salt = NULL, erased_by = 8 WHERE seq = 6"
    )
    err = fault_of(ledger)
    assert isinstance(err, LedgerTampered)
    assert (err.seq, err.fault) == (6, Fault.PAYLOAD_MISSING)


def test_a_dropped_tail_is_truncation_relative_to_a_checkpoint(
    ledger: Ledger, tmp_path: Path
) -> None:
    fill(ledger)
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    cp = ledger.checkpoint(key)
    fill(ledger, 3)
    tamper(
        ledger,
        "DELETE FROM ledger_entries WHERE seq > 6",
        "UPDATE ledger_head SET size = 6, link = (SELECT link FROM ledger_entries WHERE seq = 6)",
    )
    err = fault_of(ledger, checkpoints=[cp], pubkey=key.public_key())
    assert isinstance(err, CheckpointMismatch)
    assert err.fault is Fault.TRUNCATED


def test_a_dropped_tail_is_caught_by_the_head_even_without_a_checkpoint(ledger: Ledger) -> None:
    fill(ledger)
    tamper(ledger, "DELETE FROM ledger_entries WHERE seq > 6")
    err = fault_of(ledger)
    assert err.fault is Fault.TRUNCATED  # type: ignore[attr-defined]


def test_a_rewrite_with_recomputed_hashes_is_caught_by_the_checkpoint(
    ledger: Ledger, tmp_path: Path
) -> None:
    fill(ledger)
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    cp = ledger.checkpoint(key)
    rewrite_from(ledger, 3, {"op": "create", "user": "backdoor"})
    err = fault_of(ledger, checkpoints=[cp], pubkey=key.public_key())
    assert isinstance(err, CheckpointMismatch)
    assert err.fault is Fault.REWRITTEN


def test_a_rewrite_of_the_tail_after_the_last_checkpoint_needs_an_external_one(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Without a checkpoint covering it, a consistent rewrite is undetectable: say so."""
    fill(ledger)
    key = cpmod.load_or_create_key(tmp_path / "k.pem")
    ledger.checkpoint(key)
    fill(ledger, 2)
    kept = cpmod.sign(
        key, ledger.origin, 11, ledger.root_at(11), "2026-12-03T00:00:00Z", b"\0" * 32
    )
    rewrite_from(ledger, 10, {"op": "delete", "user": "evidence-of-misuse"})
    assert ledger.verify().size == 11  # the chain alone cannot tell
    err = fault_of(ledger, checkpoints=[kept], pubkey=key.public_key())
    assert isinstance(err, CheckpointMismatch)
    assert err.fault is Fault.REWRITTEN


def test_a_checkpoint_signed_by_another_key_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    fill(ledger)
    cp = ledger.checkpoint(cpmod.load_or_create_key(tmp_path / "a.pem"))
    other = cpmod.load_or_create_key(tmp_path / "b.pem")
    err = fault_of(ledger, checkpoints=[cp], pubkey=other.public_key())
    assert err.fault is Fault.BAD_SIGNATURE  # type: ignore[attr-defined]


def test_a_writer_working_from_a_stale_head_is_refused_and_writes_nothing(
    ledger: Ledger,
) -> None:
    """UNIQUE(seq), UNIQUE(prev) and UNIQUE(link) are the last guard against a fork.

    Moving the head row back one entry is what a writer that skipped the lock would
    see; its next batch must be refused whole, with a reason, and the chain kept.
    """

    def head_row() -> dict[str, object]:
        with ledger.engine.connect() as conn:
            size, link, frontier = conn.execute(
                text("SELECT size, link, frontier FROM ledger_head WHERE id = 1")
            ).one()
        return {"size": size, "link": bytes(link), "frontier": bytes(frontier)}

    def set_head(row: dict[str, object]) -> None:
        raw(
            ledger,
            "UPDATE ledger_head SET size = :size, link = :link, frontier = :frontier WHERE id = 1",
            row,
        )

    fill(ledger, 4)
    stale = head_row()
    fill(ledger, 1)
    current = head_row()
    set_head(stale)
    with pytest.raises(LedgerError, match="refused the append") as info:
        ledger.append_many([NewEntry("note", {"fork": i}, "mallory") for i in range(3)])
    assert "scimtrail ledger verify" in info.value.diagnostics()
    assert head_row() == stale  # the whole batch was rolled back, head included
    set_head(current)
    assert list(ledger.entries(kind="note")) == []
    assert ledger.verify().size == 5
