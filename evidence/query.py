"""A lean read path for reports: selected kinds, raw payload bytes, in batches.

:meth:`evidence.ledger.Ledger.entries` decodes every payload into an
:class:`~evidence.model.Entry`; a report over a year of provisioning only needs a
few kinds and a few fields, and decodes the JSON itself. :func:`stream` yields
batches of ``(seq, ts, kind, actor, run_id, body)`` tuples in seq order, where
``body`` is the canonical JSON bytes of the payload (``None`` when erased).
Memory stays bounded by the batch size. :func:`stats` answers "how many entries,
which seq and ts range, any gap in seq" with one aggregate query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from evidence import store
from evidence.errors import DatabaseUnavailable
from evidence.ledger import Ledger
from evidence.tables import ledger_entries

RawRow = tuple[int, str, str, str, str | None, bytes | None]

_t = ledger_entries.c


def stream(
    ledger: Ledger,
    kinds: Iterable[str],
    *,
    since: str | None = None,
    until: str | None = None,
    after_seq: int | None = None,
    until_seq: int | None = None,
    batch: int = 20000,
) -> Iterator[list[RawRow]]:
    """Batches of raw rows of the given kinds, ``since <= ts < until``, in seq order.

    ``after_seq``/``until_seq`` bound seq (exclusive / inclusive). Timestamps are the
    ledger's ISO 8601 UTC strings, which compare correctly as text. Rows come straight
    from the driver's cursor (a server-side cursor on PostgreSQL), without SQLAlchemy's
    per-row processing: this is the hot path of every report.
    """
    kinds = sorted(set(kinds))
    if not kinds:
        return
    pg = ledger.dialect == "postgresql"
    ph = "%s" if pg else "?"
    where = [f"kind IN ({', '.join([ph] * len(kinds))})"]
    params: list[Any] = list(kinds)
    for col, op, value in (
        ("ts", ">=", since),
        ("ts", "<", until),
        ("seq", ">", after_seq),
        ("seq", "<=", until_seq),
    ):
        if value is not None:
            where.append(f"{col} {op} {ph}")
            params.append(value)
    sql = (
        "SELECT seq, ts, kind, actor, run_id, body FROM ledger_entries WHERE "  # noqa: S608
        + " AND ".join(where)
        + " ORDER BY seq"
    )
    with store.connect(ledger.engine, ledger.shown) as conn:
        raw: Any = conn.connection.driver_connection
        try:
            if pg:
                with raw.transaction(), raw.cursor(name="scimtrail_stream") as cur:
                    cur.itersize = batch
                    cur.execute(sql, params)
                    while part := cur.fetchmany(batch):
                        yield [
                            (r[0], r[1], r[2], r[3], r[4], None if r[5] is None else bytes(r[5]))
                            for r in part
                        ]
            else:
                cur = raw.cursor()
                try:
                    cur.execute(sql, params)
                    while part := cur.fetchmany(batch):
                        yield part
                finally:
                    cur.close()
        except Exception as exc:
            if type(exc).__module__.startswith(("sqlite3", "psycopg")):
                raise DatabaseUnavailable(ledger.shown, str(exc).splitlines()[0]) from exc
            raise


@dataclass(frozen=True, slots=True)
class Stats:
    """Size and range of the stored entries; ``gapless`` when seq runs 1..count."""

    count: int
    first_seq: int | None
    last_seq: int | None
    first_ts: str | None
    last_ts: str | None
    erased: int  # erasure entries (payloads erased)

    @property
    def gapless(self) -> bool:
        return self.count == 0 or (self.first_seq == 1 and self.last_seq == self.count)


def stats(ledger: Ledger) -> Stats:
    """Count, seq range, ts range and erasures of the whole ledger (index-only queries)."""
    with store.connect(ledger.engine, ledger.shown) as conn:
        count = conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one()
        s0, s1 = conn.execute(select(func.min(_t.seq), func.max(_t.seq))).one()
        t0, t1 = conn.execute(select(func.min(_t.ts), func.max(_t.ts))).one()
        erased = conn.execute(
            select(func.count()).select_from(ledger_entries).where(_t.kind == "erasure")
        ).scalar_one()
    return Stats(int(count), s0, s1, t0, t1, int(erased))


__all__ = ["RawRow", "Stats", "stats", "stream"]
