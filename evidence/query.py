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

from sqlalchemy import ColumnElement, and_, func, select

from evidence import store
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
    ledger's ISO 8601 UTC strings, which compare correctly as text.
    """
    kinds = sorted(set(kinds))
    if not kinds:
        return
    cond: list[ColumnElement[bool]] = [_t.kind.in_(kinds)]
    if since is not None:
        cond.append(_t.ts >= since)
    if until is not None:
        cond.append(_t.ts < until)
    if after_seq is not None:
        cond.append(_t.seq > after_seq)
    if until_seq is not None:
        cond.append(_t.seq <= until_seq)
    query = (
        select(_t.seq, _t.ts, _t.kind, _t.actor, _t.run_id, _t.body)
        .where(and_(*cond))
        .order_by(_t.seq)
    )
    blobs = ledger.dialect == "postgresql"
    with store.connect(ledger.engine, ledger.shown) as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
        for part in result.partitions():
            if blobs:  # psycopg hands out memoryview for bytea
                yield [
                    (r[0], r[1], r[2], r[3], r[4], None if r[5] is None else bytes(r[5]))
                    for r in part
                ]
            else:
                yield [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in part]


@dataclass(frozen=True, slots=True)
class Stats:
    """Size and range of the stored entries; ``gapless`` when seq runs 1..count."""

    count: int
    first_seq: int | None
    last_seq: int | None
    first_ts: str | None
    last_ts: str | None
    erased: int

    @property
    def gapless(self) -> bool:
        return self.count == 0 or (self.first_seq == 1 and self.last_seq == self.count)


def stats(ledger: Ledger) -> Stats:
    """Count, seq range, ts range and erased payloads of the whole ledger."""
    query = select(
        func.count(),
        func.min(_t.seq),
        func.max(_t.seq),
        func.min(_t.ts),
        func.max(_t.ts),
        func.count(_t.erased_by),
    )
    with store.connect(ledger.engine, ledger.shown) as conn:
        count, s0, s1, t0, t1, erased = conn.execute(query).one()
    return Stats(int(count), s0, s1, t0, t1, int(erased))


__all__ = ["RawRow", "Stats", "stats", "stream"]
