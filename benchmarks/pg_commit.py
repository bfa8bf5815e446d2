"""Why PostgreSQL appends do not release the chain lock before their commit is synced.

A hash chain serialises its writers: each append reads the head under a row lock,
inserts, moves the head and commits, and the lock is held until the commit's WAL
flush (fsync) returns. "Early lock release" would commit under the lock with
``synchronous_commit = off`` (no fsync) and then wait for the flush in a second,
synchronous transaction after the lock is gone, so that the flushes of several
writers could overlap. This measures the two commit protocols on a one-row lock
that stands for the ledger head, with 1 and 4 writer processes, interleaved:

* ``sync``: BEGIN; SELECT … FOR UPDATE; INSERT; UPDATE head; COMMIT (synced);
* ``early``: the same with SET LOCAL synchronous_commit = off, then
  BEGIN; SELECT pg_logical_emit_message(true, …); COMMIT (synced: it writes WAL, so
  its commit flushes everything before it, the first transaction included).

Usage: .venv/bin/python benchmarks/pg_commit.py [--pg-url URL] [--n N] [--reps R]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PG_DEFAULT, interleave, median, pg_schema, table

ROW = "x" * 4000  # about the size of a stored scim.exchange entry


def _writer(conninfo: str, schema: str, mode: str, n: int, barrier: Any, out: Any) -> None:
    import psycopg

    with psycopg.connect(conninfo, options=f"-csearch_path={schema}") as conn:
        barrier.wait()
        t0 = time.perf_counter()
        for _ in range(n):
            if mode == "early":
                conn.execute("SET LOCAL synchronous_commit = off")
            size = conn.execute("SELECT size FROM head WHERE id = 1 FOR UPDATE").fetchone()
            assert size is not None
            conn.execute("INSERT INTO entries (seq, body) VALUES (%s, %s)", (size[0] + 1, ROW))
            conn.execute("UPDATE head SET size = %s WHERE id = 1", (size[0] + 1,))
            conn.commit()
            if mode == "early":
                conn.execute("SELECT pg_logical_emit_message(true, 'scimtrail.bench', '')")
                conn.commit()
        out.put((t0, time.perf_counter(), n))


def run(conninfo: str, schema: str, mode: str, procs: int, n: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_writer, args=(conninfo, schema, mode, n, barrier, out))
        for _ in range(procs)
    ]
    for p in workers:
        p.start()
    results = [out.get(timeout=600) for _ in workers]
    for p in workers:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a {mode} writer failed (exit code {p.exitcode})")
    return sum(r[2] for r in results) / (max(r[1] for r in results) - min(r[0] for r in results))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL URL (a schema is created)")
    ap.add_argument("--n", type=int, default=300, help="commits per writer process")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    args = ap.parse_args(argv)
    import psycopg

    conninfo = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    with pg_schema(args.pg_url, "bench_commit") as (schema, _url):
        with psycopg.connect(conninfo, options=f"-csearch_path={schema}") as conn:
            conn.execute("CREATE TABLE head (id int PRIMARY KEY, size bigint NOT NULL)")
            conn.execute("INSERT INTO head VALUES (1, 0)")
            conn.execute("CREATE TABLE entries (seq bigint PRIMARY KEY, body text NOT NULL)")
        variants = {
            f"{mode} x{procs}": lambda mode=mode, procs=procs: run(
                conninfo, schema, mode, procs, args.n
            )
            for procs in (1, 4)
            for mode in ("sync", "early")
        }
        rates = {k: median(v) for k, v in interleave(variants, args.reps, print).items()}
    rows = [
        [
            f"{procs} writer(s)",
            f"{rates[f'sync x{procs}']:,.0f}/s",
            f"{rates[f'early x{procs}']:,.0f}/s",
            f"{rates[f'early x{procs}'] / rates[f'sync x{procs}']:.2f}",
        ]
        for procs in (1, 4)
    ]
    print(f"\nCommits on a one-row lock, median of {args.reps} interleaved reps, {args.n} each")
    print(table(["writers", "sync under the lock", "early release", "early / sync"], rows))
    print(
        f"4 vs 1 writer: sync {rates['sync x4'] / rates['sync x1']:.2f}x, "
        f"early {rates['early x4'] / rates['early x1']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
