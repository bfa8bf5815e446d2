"""Ledger benchmark: append, verify, checkpoint, proof and export costs against raw baselines.

    .venv/bin/python benchmarks/ledger.py [--quick] [--pg-url URL] [--json OUT]

Every figure is a median of interleaved repetitions (the machine has two cores and is
shared); every ledger figure sits next to a baseline measured in the same run:

* appends: the driver (sqlite3 / psycopg) inserting pre-built rows of the same size
  into a table of the same shape (the ledger's own DDL, in a separate file/schema),
  with the same durability (SQLite WAL + synchronous=FULL, PostgreSQL
  synchronous_commit=on), rows per transaction and number of processes, but no
  redaction, canonicalisation, hashing, head row or Merkle nodes;
* verify: reading the same rows and hashing their stored bytes (entry and
  salt+body) in a tight hashlib loop;
* scale (1,000,000 entries; ``--quick`` 100,000): checkpoint, inclusion and
  consistency proof time and size at 1k / 100k / N leaves, export time, and the
  peak RSS of ``verify`` at two sizes (it must be flat). The big SQLite ledger is
  built once and cached under /tmp, keyed by size.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    PG_DEFAULT,
    fmt_bytes,
    fmt_rate,
    interleave,
    median,
    pg_schema,
    scim_exchange,
    table,
    timed,
)

from evidence import tables
from evidence.canonical import canonical_bytes
from evidence.chain import ROW_COLUMNS, entry_bytes
from evidence.ledger import Ledger
from evidence.merkle import verify_consistency, verify_inclusion
from evidence.model import NewEntry
from evidence.redact import Redactor

CACHE = Path(os.environ.get("SCIMTRAIL_BENCH_CACHE", "/tmp/scimtrail-bench"))
ROOT = Path(__file__).resolve().parent.parent
_COLS = ", ".join(ROW_COLUMNS)
_PAYLOADS = [scim_exchange(i) for i in range(64)]
# The raw limits the issue measured on its reference machine. Its absolute targets
# (12,000/s batched, 100,000/s verify) are checked as given and also scaled by this
# run's raw baseline over these, because machines of the same kind differ by 2-4x.
ISSUE_RAW = {"sqlite batch": 32_000, "read+hash": 160_000}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- workloads -------------------------------------------------------------------------


def new_entries(n: int, start: int = 0) -> list[NewEntry]:
    return [
        NewEntry("scim.exchange", _PAYLOADS[(start + i) % len(_PAYLOADS)], "bench", "run-bench")
        for i in range(n)
    ]


def _sample_sizes() -> tuple[bytes, bytes]:
    """An entry envelope and payload body exactly as the ledger stores them."""
    body = canonical_bytes(Redactor.from_env().redact(_PAYLOADS[0]))
    entry = entry_bytes(
        123456, "2026-12-03T09:30:00.000000Z", "scim.exchange", "bench", "run-bench", None,
        os.urandom(32),
    )  # fmt: skip
    return entry, body


ENTRY, BODY = _sample_sizes()


def raw_rows(start: int, n: int) -> list[tuple[Any, ...]]:
    """Pre-built rows of the ledger's shape and size (unique prev/link, seq from start)."""
    ts = "2026-12-03T09:30:00.000000Z"
    return [
        (start + i, ts, "scim.exchange", "bench", "run-bench", None, os.urandom(32), ENTRY,
         os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(16), BODY, None)
        for i in range(n)
    ]  # fmt: skip


# -- raw baselines ---------------------------------------------------------------------


def _insert_sql(ph: str) -> str:
    return f"INSERT INTO ledger_entries ({_COLS}) VALUES ({', '.join([ph] * len(ROW_COLUMNS))})"


def raw_sqlite_create(path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    tables.ledger_entries.create(engine)
    engine.dispose()


def raw_sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def raw_sqlite_insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], per_txn: int) -> None:
    sql = _insert_sql("?")
    for i in range(0, len(rows), per_txn):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + per_txn])
        conn.execute("COMMIT")


def pg_conninfo(base: str) -> str:
    return base.replace("postgresql+psycopg://", "postgresql://")


def raw_pg_connect(base: str, schema: str) -> Any:
    import psycopg

    return psycopg.connect(
        pg_conninfo(base), options=f"-csearch_path={schema} -c synchronous_commit=on"
    )


def raw_pg_create(base: str, schema: str) -> None:
    from sqlalchemy import create_engine

    url = pg_conninfo(base).replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    tables.ledger_entries.create(engine)
    engine.dispose()


def raw_pg_insert(conn: Any, rows: list[tuple[Any, ...]], per_txn: int) -> None:
    sql = _insert_sql("%s")
    with conn.cursor() as cur:
        for i in range(0, len(rows), per_txn):
            cur.executemany(sql, rows[i : i + per_txn])
            conn.commit()


# -- ledger appends --------------------------------------------------------------------


def ledger_append(ledger: Ledger, entries: list[NewEntry], per_txn: int) -> None:
    if per_txn == 1:
        for e in entries:
            ledger.append(e.kind, e.payload, actor=e.actor, run_id=e.run_id)
    else:
        for i in range(0, len(entries), per_txn):
            ledger.append_many(entries[i : i + per_txn])


class Target:
    """One backend's pair of databases: a ledger and a raw table of the same shape."""

    def __init__(self, backend: str, ledger_db: str, raw: dict[str, Any]) -> None:
        self.backend = backend
        self.ledger_db = ledger_db
        self.raw = raw
        self.next_raw_seq = 1

    def raw_connect(self) -> Any:
        if self.backend == "sqlite":
            return raw_sqlite_connect(self.raw["path"])
        return raw_pg_connect(self.raw["base"], self.raw["schema"])

    def raw_insert(self, conn: Any, rows: list[tuple[Any, ...]], per_txn: int) -> None:
        if self.backend == "sqlite":
            raw_sqlite_insert(conn, rows, per_txn)
        else:
            raw_pg_insert(conn, rows, per_txn)

    def take_seqs(self, n: int) -> int:
        start = self.next_raw_seq
        self.next_raw_seq += n
        return start


@contextlib.contextmanager
def targets(backend: str, pg_url: str, tmp: Path) -> Iterator[Target]:
    if backend == "sqlite":
        d = Path(tempfile.mkdtemp(prefix="sqlite-", dir=tmp))
        ledger_db = str(d / "ledger.db")
        Ledger.init(ledger_db)
        raw_path = d / "raw.db"
        raw_sqlite_create(raw_path)
        yield Target("sqlite", ledger_db, {"path": raw_path})
        return
    with pg_schema(pg_url, "bench_ledger") as (_, url), pg_schema(pg_url, "bench_raw") as (rs, _):
        Ledger.init(url)
        raw_pg_create(pg_url, rs)
        yield Target("postgresql", url, {"base": pg_url, "schema": rs})


def bench_appends(t: Target, sizes: dict[int, int], reps: int) -> dict[str, Any]:
    """Interleaved ledger vs raw appends for each rows-per-transaction value."""
    results: dict[str, Any] = {}
    with Ledger.open(t.ledger_db) as ledger:
        raw_conn = t.raw_connect()
        try:
            for per_txn, n in sizes.items():
                log(f"  {t.backend}: {per_txn} row(s)/txn, {n} entries per rep")

                def run_ledger(per_txn: int = per_txn, n: int = n) -> float:
                    entries = new_entries(n)
                    t0 = time.perf_counter()
                    ledger_append(ledger, entries, per_txn)
                    return n / (time.perf_counter() - t0)

                def run_raw(per_txn: int = per_txn, n: int = n) -> float:
                    rows = raw_rows(t.take_seqs(n), n)
                    t0 = time.perf_counter()
                    t.raw_insert(raw_conn, rows, per_txn)
                    return n / (time.perf_counter() - t0)

                rates = interleave({"ledger": run_ledger, "raw": run_raw}, reps, log)
                results[str(per_txn)] = {k: median(v) for k, v in rates.items()} | {"runs": rates}
        finally:
            raw_conn.close()
    return results


def bench_breakdown(reps: int, n: int, tmp: Path) -> dict[str, float]:
    """Where an append's time goes (SQLite, 1,000 rows/txn): µs per entry of each phase.

    Uses the ledger's private ``_prepare`` (redact, canonicalise, salt, commit; outside the
    lock) and ``_write`` (chain, insert, head, commit; inside it); skipped if they change.
    """
    from evidence.canonical import _fast_path_safe

    db = str(Path(tempfile.mkdtemp(prefix="breakdown-", dir=tmp)) / "ledger.db")
    Ledger.init(db)
    redactor = Redactor.from_env()
    payload = _PAYLOADS[1]
    redacted = redactor.redact(payload)
    out: dict[str, list[float]] = {
        k: [] for k in ("redact", "jcs_safety_walk", "canonical_bytes", "prepare", "write")
    }
    with Ledger.open(db) as ledger:
        if not hasattr(ledger, "_prepare") or not hasattr(ledger, "_write"):
            return {}
        k = 2000
        for _ in range(reps):
            out["redact"].append(timed(lambda: [redactor.redact(payload) for _ in range(k)]) / k)
            out["jcs_safety_walk"].append(
                timed(lambda: [_fast_path_safe(redacted) for _ in range(k)]) / k
            )
            out["canonical_bytes"].append(
                timed(lambda: [canonical_bytes(redacted) for _ in range(k)]) / k
            )
            entries = new_entries(n)
            t0 = time.perf_counter()
            prepared = [ledger._prepare(e) for e in entries]
            out["prepare"].append((time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            for i in range(0, n, 1000):
                ledger._write(prepared[i : i + 1000])
            out["write"].append((time.perf_counter() - t0) / n)
    return {k: median(v) * 1e6 for k, v in out.items()}


# -- concurrent writers (separate processes) -------------------------------------------


def _worker(
    mode: str,
    backend: str,
    target: dict[str, Any],
    n: int,
    per_txn: int,
    seq_base: int,
    barrier: Any,
    out: Any,
) -> None:
    try:
        if mode == "ledger":
            ledger = Ledger.open(target["ledger_db"])
            entries = new_entries(n, seq_base)
            ledger.head()  # warm the pool
            barrier.wait()
            t0 = time.perf_counter()
            ledger_append(ledger, entries, per_txn)
            t1 = time.perf_counter()
            ledger.close()
        else:
            t = Target(backend, "", target["raw"])
            conn = t.raw_connect()
            rows = raw_rows(seq_base, n)
            barrier.wait()
            t0 = time.perf_counter()
            t.raw_insert(conn, rows, per_txn)
            t1 = time.perf_counter()
            conn.close()
        out.put((t0, t1, n, None))
    except Exception as exc:  # report, never hang the parent
        out.put((0.0, 0.0, 0, f"{type(exc).__name__}: {exc}"))
        with contextlib.suppress(Exception):
            barrier.abort()


def run_writers(t: Target, mode: str, procs: int, n: int, per_txn: int) -> float:
    """Aggregate entries/s of ``procs`` writer processes started together."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    target = {"ledger_db": t.ledger_db, "raw": t.raw}
    workers = []
    for w in range(procs):
        seq_base = t.take_seqs(n) if mode == "raw" else w * n
        p = ctx.Process(
            target=_worker, args=(mode, t.backend, target, n, per_txn, seq_base, barrier, out)
        )
        p.start()
        workers.append(p)
    results = [out.get(timeout=600) for _ in workers]
    for p in workers:
        p.join()
    errors = [r[3] for r in results if r[3]]
    if errors:
        raise RuntimeError(f"{mode} writer failed: {errors[0]}")
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    return sum(r[2] for r in results) / (end - start)


def bench_concurrency(t: Target, per_txn: int, n: int, reps: int) -> dict[str, Any]:
    log(f"  {t.backend}: 1 vs 4 writer processes, {per_txn} row(s)/txn, {n} entries per writer")
    variants: dict[str, Callable[[], float]] = {}
    for procs in (1, 4):
        for mode in ("ledger", "raw"):
            variants[f"{mode} x{procs}"] = lambda mode=mode, procs=procs: run_writers(
                t, mode, procs, n, per_txn
            )
    rates = interleave(variants, reps, log)
    with Ledger.open(t.ledger_db) as ledger:
        ledger.verify()  # many writers, still one unbroken chain
    return {k: median(v) for k, v in rates.items()} | {"runs": rates}


# -- verification ----------------------------------------------------------------------


def raw_verify_sqlite(path: str) -> int:
    """Read every row as verify does and hash the stored bytes: the floor for verify."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sha = hashlib.sha256
    n = 0
    cur = conn.execute(f"SELECT {_COLS} FROM ledger_entries WHERE seq >= 1 ORDER BY seq")
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            break
        for r in batch:
            sha(b"\x00" + r[7]).digest()
            if r[12] is not None:
                sha(b"\x03" + r[11] + r[12]).digest()
        n += len(batch)
    conn.close()
    return n


def raw_verify_pg(base: str, schema: str) -> int:
    sha = hashlib.sha256
    n = 0
    # the same transfer as the ledger's reader: a server-side cursor in binary format
    with (
        raw_pg_connect(base, schema) as conn,
        conn.cursor(name="rawverify", binary=True) as cur,
    ):
        cur.execute(f"SELECT {_COLS} FROM ledger_entries WHERE seq >= 1 ORDER BY seq")
        while batch := cur.fetchmany(5000):
            for r in batch:
                sha(b"\x00" + r[7]).digest()
                if r[12] is not None:
                    sha(b"\x03" + r[11] + r[12]).digest()
            n += len(batch)
    return n


def bench_verify(ledger_db: str, raw: Callable[[], int], reps: int, label: str) -> dict[str, Any]:
    with Ledger.open(ledger_db) as ledger:
        size = ledger.size()
        log(f"  {label}: verify {size:,} entries")

        def run_ledger() -> float:
            t0 = time.perf_counter()
            result = ledger.verify()
            return result.size / (time.perf_counter() - t0)

        def run_raw() -> float:
            t0 = time.perf_counter()
            n = raw()
            return n / (time.perf_counter() - t0)

        rates = interleave({"ledger": run_ledger, "raw": run_raw}, reps, log)
    return {k: median(v) for k, v in rates.items()} | {"runs": rates, "size": size}


def build_ledger(db: str, n: int, batch: int = 10_000) -> float:
    """Append n entries with append_many in large batches; returns entries/s."""
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        have = ledger.size()
        t0 = time.perf_counter()
        done = have
        while done < n:
            k = min(batch, n - done)
            ledger.append_many(new_entries(k, done))
            done += k
            if done % 100_000 < batch:
                rate = (done - have) / (time.perf_counter() - t0)
                log(f"    built {done:,}/{n:,} ({rate:,.0f}/s)")
        return (n - have) / max(time.perf_counter() - t0, 1e-9)


def cached_ledger(n: int) -> tuple[str, float | None]:
    """A SQLite ledger of (at least) n entries under /tmp, built once per size."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ledger-{n}.db"
    done = CACHE / f"ledger-{n}.done"
    if path.exists() and done.exists():
        Ledger.init(str(path))  # upgrades a cache built before a newer migration
        return str(path), None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    log(f"  building a {n:,}-entry SQLite ledger at {path} (cached for later runs)")
    rate = build_ledger(str(path), n)
    done.write_text(f"{n}\n")
    return str(path), rate


# -- scale: checkpoint, proofs, export, memory -----------------------------------------

_RSS_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from evidence.ledger import Ledger

def hwm():  # VmHWM is per address space; ru_maxrss would inherit the parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

with Ledger.open({db!r}) as ledger:
    ledger.head()
    before = hwm()
    t0 = time.perf_counter()
    result = ledger.verify()
    dt = time.perf_counter() - t0
print(json.dumps({{"size": result.size, "seconds": dt, "rss_before_kib": before,
                  "rss_peak_kib": hwm()}}))
"""


def verify_rss(db: str) -> dict[str, Any]:
    """Run verify in a fresh process and report its peak RSS."""
    code = _RSS_CHILD.format(root=str(ROOT), db=db)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def proof_files(ledger: Ledger, key: Any, size: int) -> tuple[int, int] | None:
    """Bytes of the inclusion and consistency proof files evidence/proofs.py writes."""
    if importlib.util.find_spec("evidence.proofs") is None:
        return None
    from evidence import checkpoint as cpmod
    from evidence import proofs

    def signed(n: int) -> Any:
        return cpmod.sign(key, ledger.origin, n, ledger.root_at(n), "2026-12-03T00:00:00Z",
                          ledger.row(n).link)  # fmt: skip

    new, old = signed(size), signed(max(1, size // 3))
    inc = proofs.write(proofs.inclusion(ledger, max(1, size // 3), new), None)
    con = proofs.write(proofs.consistency(ledger, old, new), None)
    return len(inc.encode()), len(con.encode())


def bench_scale(big: int, small: int, reps: int, tmp: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out: dict[str, Any] = {"big": big, "small": small}
    small_db, _ = cached_ledger(small)
    big_db, big_rate = cached_ledger(big)
    out["build_rate"] = big_rate
    rng = random.Random(7)
    with Ledger.open(big_db) as ledger:
        out["size"] = ledger.size()
        key = Ed25519PrivateKey.generate()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            cp = ledger.checkpoint(key, actor="bench")
            times.append(time.perf_counter() - t0)
        out["checkpoint_ms"] = median(times) * 1000
        out["checkpoint_runs_ms"] = [x * 1000 for x in times]
        out["checkpoint_note_bytes"] = len(cp.note.encode())
        sizes = sorted({1000, min(100_000, big), big})
        files = {n: proof_files(ledger, key, n) for n in sizes}
        out["proofs"] = []
        for size in sizes:
            root = ledger.root_at(size)
            inc_t, inc_len = [], 0
            for _ in range(max(reps * 4, 10)):
                seq = rng.randint(1, size)
                t0 = time.perf_counter()
                path = ledger.inclusion_proof(seq, size)
                inc_t.append(time.perf_counter() - t0)
                verify_inclusion(seq - 1, size, ledger.row(seq).leaf, path, root)
                inc_len = max(inc_len, len(path))
            con_t, con_len = [], 0
            for _ in range(max(reps * 4, 10)):
                old = rng.randint(1, size - 1)
                t0 = time.perf_counter()
                path = ledger.consistency_proof(old, size)
                con_t.append(time.perf_counter() - t0)
                verify_consistency(old, size, ledger.root_at(old), root, path)
                con_len = max(con_len, len(path))
            out["proofs"].append(
                {
                    "size": size,
                    "inclusion_ms": median(inc_t) * 1000,
                    "inclusion_hashes": inc_len,
                    "inclusion_bytes": inc_len * 32,
                    "inclusion_file_bytes": (files[size] or (None, None))[0],
                    "consistency_ms": median(con_t) * 1000,
                    "consistency_hashes": con_len,
                    "consistency_bytes": con_len * 32,
                    "consistency_file_bytes": (files[size] or (None, None))[1],
                }
            )
    try:
        out["export"] = bench_export(big_db, tmp)
    except Exception as exc:  # the module may be mid-change by its owner: report, go on
        log(f"  export failed: {type(exc).__name__}: {exc}")
        out["export"] = {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    log(f"  peak RSS of verify at {small:,} and {big:,} entries (fresh processes)")
    out["rss_small"] = verify_rss(small_db)
    out["rss_big"] = verify_rss(big_db)
    return out


def bench_export(db: str, tmp: Path) -> dict[str, Any]:
    if importlib.util.find_spec("evidence.export") is None:
        log("  evidence/export.py is not there yet: export not measured")
        return {"available": False}
    import evidence.export as export

    target = tmp / "export.jsonl"
    log(f"  exporting {db} to {target}")
    with Ledger.open(db) as ledger:
        t0 = time.perf_counter()
        export.export(ledger, target)
        dt = time.perf_counter() - t0
        size = ledger.size()
    res: dict[str, Any] = {
        "available": True,
        "seconds": dt,
        "rate": size / dt,
        "file_bytes": target.stat().st_size,
    }
    verify_export = getattr(export, "verify_export", None)
    if verify_export is not None:
        t0 = time.perf_counter()
        verify_export(target, [], None)
        res["verify_seconds"] = time.perf_counter() - t0
        res["verify_rate"] = size / res["verify_seconds"]
    log("  the independent verifier (examples/verify_ledger_export.py) on the same file")
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "verify_ledger_export.py"), str(target)],
        check=True,
        capture_output=True,
    )
    res["independent_seconds"] = time.perf_counter() - t0
    res["independent_rate"] = size / res["independent_seconds"]
    target.unlink()
    return res


# -- report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def absolute_checks(what: str, target: int, v: dict[str, float], issue_raw: int) -> list[list[str]]:
    """An absolute target as given, and scaled by this run's raw baseline over the issue's."""
    floor = target * v["raw"] / issue_raw
    return [
        [f"{what} ≥ {target:,}/s", fmt_rate(v["ledger"]), verdict(v["ledger"] >= target)],
        [f"  the same, scaled to this machine's raw {fmt_rate(v['raw'])} "
         f"(issue: {issue_raw:,}/s): ≥ {fmt_rate(floor)}",
         fmt_rate(v["ledger"]), verdict(v["ledger"] >= floor)],
    ]  # fmt: skip


def report(r: dict[str, Any]) -> str:
    out: list[str] = []
    if "load_before" in r:
        lb, la = r["load_before"], r["load_after"]
        out.append(
            f"Run {r.get('started', '')}, {'quick' if r['quick'] else 'full'}, {r['reps']} reps; "
            f"load average (1/5/15 min) {lb[0]:.1f}/{lb[1]:.1f}/{lb[2]:.1f} at start, "
            f"{la[0]:.1f}/{la[1]:.1f}/{la[2]:.1f} at end, on {os.cpu_count()} cores\n"
        )
    rows: list[list[str]] = []
    checks: list[list[str]] = []
    for backend in ("sqlite", "postgresql"):
        app = r.get("appends", {}).get(backend) or {}
        for per_txn, v in app.items():
            ratio = v["ledger"] / v["raw"]
            rows.append(
                [backend, "append() x1" if per_txn == "1" else f"append_many({per_txn})",
                 fmt_rate(v["ledger"]), fmt_rate(v["raw"]), f"{ratio:.2f}"]
            )  # fmt: skip
            if per_txn == "1":
                floor = 1000 if backend == "sqlite" else 700
                checks.append(
                    [f"{backend} single durable appends ≥ {floor}/s", fmt_rate(v["ledger"]),
                     verdict(v["ledger"] >= floor)]
                )  # fmt: skip
            else:
                checks.append(
                    [f"{backend} batches of {per_txn} ≥ 40% of raw", f"{ratio:.0%}",
                     verdict(ratio >= 0.40)]
                )  # fmt: skip
                if backend == "sqlite":
                    checks += absolute_checks(
                        f"sqlite batches of {per_txn}", 12_000, v, ISSUE_RAW["sqlite batch"]
                    )
        for per_txn, v in r.get("concurrency", {}).get(backend, {}).items():
            for procs in (1, 4):
                lk, rk = v[f"ledger x{procs}"], v[f"raw x{procs}"]
                rows.append(
                    [backend, f"{per_txn}/txn, {procs} writer process{'es' if procs > 1 else ''}",
                     fmt_rate(lk), fmt_rate(rk), f"{lk / rk:.2f}"]
                )  # fmt: skip
            if backend == "postgresql":
                one, four = v["ledger x1"], v["ledger x4"]
                checks.append(
                    [f"postgresql 4 writers ≥ 1 writer ({per_txn}/txn)",
                     f"{four:,.0f} vs {one:,.0f}/s ({four / one:.2f}x)", verdict(four >= one)]
                )  # fmt: skip
    if rows:
        out.append("Appends (entries/s, median of interleaved reps; raw = driver, same rows)")
        out.append(table(["backend", "workload", "ledger", "raw baseline", "ratio"], rows))
    bd = r.get("breakdown")
    if bd:
        out.append(
            "\nWhere a batched SQLite append goes (µs per entry, median): "
            f"prepare {bd['prepare']:.1f} (of which redact {bd['redact']:.1f}, JCS safety walk "
            f"{bd['jcs_safety_walk']:.1f}, canonical_bytes incl. the walk "
            f"{bd['canonical_bytes']:.1f}), write in the lock {bd['write']:.1f}"
        )
    vrows = []
    for backend, v in r.get("verify", {}).items():
        ratio = v["ledger"] / v["raw"]
        vrows.append(
            [backend, f"{v['size']:,}", fmt_rate(v["ledger"]), fmt_rate(v["raw"]), f"{ratio:.2f}"]
        )
        checks += absolute_checks(f"{backend} verify", 100_000, v, ISSUE_RAW["read+hash"])
        checks.append([f"{backend} verify ≥ 50% of raw", f"{ratio:.0%}", verdict(ratio >= 0.5)])
    if vrows:
        out.append("\nVerify (entries/s; raw = read the same rows + hash stored bytes)")
        out.append(
            table(["backend", "entries", "ledger.verify()", "raw read+hash", "ratio"], vrows)
        )
    s = r.get("scale")
    if s:
        out.append(f"\nScale: SQLite ledger of {s['size']:,} entries (cached under {CACHE})")
        if s.get("build_rate"):
            out.append(f"built with append_many(10,000) at {s['build_rate']:,.0f} entries/s")
        out.append(
            f"checkpoint (sign head + append it, synced): {s['checkpoint_ms']:.1f} ms median; "
            f"note {s['checkpoint_note_bytes']} B"
        )
        prows = []
        for p in s["proofs"]:
            inc_file = p["inclusion_file_bytes"]
            con_file = p["consistency_file_bytes"]
            prows.append(
                [f"{p['size']:,}", f"{p['inclusion_ms']:.2f} ms",
                 f"{p['inclusion_hashes']} × 32 = {p['inclusion_bytes']} B"
                 + (f" (file {inc_file} B)" if inc_file else ""),
                 f"{p['consistency_ms']:.2f} ms",
                 f"{p['consistency_hashes']} × 32 = {p['consistency_bytes']} B"
                 + (f" (file {con_file} B)" if con_file else "")]
            )  # fmt: skip
        out.append(
            table(
                [
                    "tree size",
                    "inclusion gen",
                    "inclusion size",
                    "consistency gen",
                    "consistency size",
                ],
                prows,
            )
        )
        big_p = s["proofs"][-1]
        log_ok = (
            big_p["inclusion_hashes"] <= (big_p["size"] - 1).bit_length()
            and big_p["consistency_hashes"] <= 2 * (big_p["size"] - 1).bit_length()
        )
        checks.append(
            ["proof sizes logarithmic (≤ ⌈log2 n⌉ / 2⌈log2 n⌉ hashes)",
             f"{big_p['inclusion_bytes']} B / {big_p['consistency_bytes']} B at "
             f"{big_p['size']:,}", verdict(log_ok)]
        )  # fmt: skip
        ex = s["export"]
        if ex.get("available"):
            line = (
                f"export: {ex['seconds']:.1f} s ({ex['rate']:,.0f} entries/s), "
                f"{fmt_bytes(ex['file_bytes'])}"
            )
            if "verify_rate" in ex:
                line += f"; verify --export {ex['verify_rate']:,.0f} entries/s"
            if "independent_rate" in ex:
                line += (
                    f"; examples/verify_ledger_export.py {ex['independent_rate']:,.0f} entries/s"
                )
            out.append(line)
        else:
            why = ex.get("error", "evidence/export.py not available in this run")
            out.append(f"export: not measured ({why})")
        a, b = s["rss_small"], s["rss_big"]
        out.append(
            f"verify peak RSS: {a['rss_peak_kib'] / 1024:.1f} MiB at {a['size']:,} entries "
            f"({a['size'] / a['seconds']:,.0f}/s), {b['rss_peak_kib'] / 1024:.1f} MiB at "
            f"{b['size']:,} ({b['size'] / b['seconds']:,.0f}/s); process baseline "
            f"{a['rss_before_kib'] / 1024:.1f} MiB"
        )
        growth = b["rss_peak_kib"] / a["rss_peak_kib"]
        checks.append(
            [f"verify memory flat ({a['size']:,} → {b['size']:,})", f"×{growth:.2f} peak RSS",
             verdict(growth <= 1.10)]
        )  # fmt: skip
    out.append("\nTargets")
    out.append(table(["target", "measured", "result"], checks))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="smaller counts, 100k-entry scale test")
    ap.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL URL (a schema is created)")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5, quick 3)")
    ap.add_argument(
        "--only", default="appends,breakdown,concurrency,verify,scale", help="sections to run"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write raw results here")
    args = ap.parse_args(argv)
    quick = args.quick
    reps = args.reps or (3 if quick else 5)
    only = set(args.only.split(","))
    backends = ["sqlite"] + ([] if args.no_pg else ["postgresql"])
    sizes = {1: 300, 100: 5_000, 1000: 10_000} if quick else {1: 1_000, 100: 20_000, 1000: 30_000}
    conc = {1: 150, 100: 2_000} if quick else {1: 400, 100: 5_000}
    verify_n = 20_000 if quick else 100_000
    big, small = (100_000, 10_000) if quick else (1_000_000, 100_000)
    results: dict[str, Any] = {"quick": quick, "reps": reps, "entry_bytes": len(ENTRY),
                               "body_bytes": len(BODY)}  # fmt: skip
    log(f"payload: scim.exchange, body {len(BODY)} B canonical, envelope {len(ENTRY)} B")
    results["load_before"] = os.getloadavg()
    results["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    tmp = Path(tempfile.mkdtemp(prefix="scimtrail-bench-"))

    def save() -> None:  # after every section, so a late failure loses nothing
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))

    try:
        for backend in backends:
            if "appends" in only or "concurrency" in only:
                with targets(backend, args.pg_url, tmp) as t:
                    if "appends" in only:
                        log(f"appends on {backend}")
                        results.setdefault("appends", {})[backend] = bench_appends(t, sizes, reps)
                        save()
                    if "concurrency" in only:
                        log(f"concurrent writers on {backend}")
                        results.setdefault("concurrency", {})[backend] = {
                            str(k): bench_concurrency(t, k, n, reps) for k, n in conc.items()
                        }
                        save()
            if "breakdown" in only and backend == "sqlite":
                log("breakdown of a batched SQLite append")
                results["breakdown"] = bench_breakdown(reps, 10_000 if quick else 20_000, tmp)
            if "verify" in only:
                log(f"verify on {backend}")
                if backend == "sqlite":
                    db, _ = cached_ledger(verify_n)
                    results.setdefault("verify", {})[backend] = bench_verify(
                        db, lambda db=db: raw_verify_sqlite(db), reps, backend
                    )
                else:
                    with pg_schema(args.pg_url, "bench_verify") as (schema, url):
                        log(f"  building a {verify_n:,}-entry PostgreSQL ledger")
                        build_ledger(url, verify_n, 5_000)
                        results.setdefault("verify", {})[backend] = bench_verify(
                            url, lambda s=schema: raw_verify_pg(args.pg_url, s), reps, backend
                        )
            save()
        if "scale" in only:
            log(f"scale: {big:,} entries")
            results["scale"] = bench_scale(big, small, reps, tmp)
    except Exception:  # print what was measured before the failure, then fail
        results["load_after"] = os.getloadavg()
        print(report(results))
        save()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_after"] = os.getloadavg()
    text = report(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
