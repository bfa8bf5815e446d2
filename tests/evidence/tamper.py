"""Tools an attacker with database access would use: raw SQL with the triggers gone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from evidence.canonical import canonical_bytes
from evidence.chain import entry_bytes, link_hash, payload_commitment
from evidence.ledger import Ledger
from evidence.merkle import leaf_hash

TRIGGERS = [
    ("ledger_entries_no_update", "ledger_entries"),
    ("ledger_entries_no_delete", "ledger_entries"),
    ("ledger_nodes_no_delete", "ledger_nodes"),
]


def raw(ledger: Ledger, sql: str, params: dict[str, Any] | None = None) -> None:
    """Run one statement through the driver, triggers left in place."""
    with ledger.engine.begin() as conn:
        conn.execute(text(sql), params or {})


def drop_triggers(ledger: Ledger) -> None:
    pg = ledger.dialect == "postgresql"
    with ledger.engine.begin() as conn:
        for name, table in TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name} ON {table}" if pg else f"DROP TRIGGER {name}"))


def tamper(ledger: Ledger, *statements: str, **params: Any) -> None:
    """Drop the append-only triggers, then run the statements in one transaction."""
    drop_triggers(ledger)
    with ledger.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), params)


def rewrite_from(ledger: Ledger, seq: int, new_payload: Any) -> None:
    """Replace entry ``seq``'s payload and recompute every hash from there to the head.

    This is the strongest attack on a hash chain alone: the result is internally
    consistent, so only a checkpoint signed earlier can reveal it.
    """
    drop_triggers(ledger)
    rows = list(ledger.rows(seq))
    prev = rows[0].prev
    with ledger.engine.begin() as conn:
        for i, row in enumerate(rows):
            salt, body, phash = row.salt, row.body, row.payload_hash
            if i == 0:
                salt = b"\x00" * 16
                body = canonical_bytes(new_payload)
                phash = payload_commitment(salt, body)
            entry = entry_bytes(row.seq, row.ts, row.kind, row.actor, row.run_id, row.ref, phash)
            leaf = leaf_hash(entry)
            link = link_hash(prev, leaf)
            conn.execute(
                text(
                    "UPDATE ledger_entries SET salt = :salt, body = :body, payload_hash = :ph, "
                    "entry = :entry, leaf = :leaf, prev = :prev, link = :link WHERE seq = :seq"
                ),
                {"salt": salt, "body": body, "ph": phash, "entry": entry, "leaf": leaf,
                 "prev": prev, "link": link, "seq": row.seq},
            )  # fmt: skip
            prev = link
