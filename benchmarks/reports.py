"""Reports benchmark: coverage + metrics over a year of provisioning vs a bare scan.

    .venv/bin/python benchmarks/reports.py [--entries N] [--people P] [--no-pg] [--pg-url URL]

A synthetic year (2026) of a company of P people (default 20,000) provisioned daily:
joiners, movers, leavers (a few late), group memberships, lookups and paged reads,
retries and failures, weekly config commits with test runs and deployments, quarterly
reconciles and access reviews — N entries in all (default 1,000,000). The ledger is
built once with ``append_many`` in big batches (timestamps from a synthetic clock) and
cached under /tmp/scimtrail-bench/, keyed by (N, P, seed); PostgreSQL copies go in a
schema named by the same key and are reused too.

Measured in a fresh process per backend, interleaved, median of ``--reps``:

* scan (the floor): read the same rows the reports read (``evidence.query.stream``,
  same kinds, same ts range) and decode every payload's JSON — nothing else;
* report: ``load_frames`` + ``compute_coverage`` (all frameworks, ``verify=False``)
  + ``compute_metrics`` over the same period;
* peak RSS of a process that runs only the report (``ru_maxrss``);
* (information) ``ledger.verify()``, which ``report coverage`` runs by default.

Targets: report ≤ 2× scan on SQLite and on PostgreSQL; report peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from evidence.ledger import Ledger
from evidence.model import NewEntry

PG_DEFAULT = os.environ.get("SCIMTRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CACHE = Path("/tmp/scimtrail-bench")
YEAR = 2026
URL = "https://scim.example.com/scim/v2"


# -- the synthetic year -----------------------------------------------------------
class Year:
    """Generates the year's entries day by day (deterministic for a seed)."""

    def __init__(self, entries: int, people: int, seed: int = 7, change_share: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.change_share = change_share
        self.target = entries
        self.people = people
        self.active = list(range(people))
        self.next_id = people
        self.commit = "0" * 40
        self.commits = 0

    def _ts(self, day: date, sec: int) -> str:
        return f"{day.isoformat()}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.000000Z"

    def days(self) -> Iterator[tuple[str, list[NewEntry]]]:
        """(timestamp, batch) pairs in time order; each batch is one clock reading."""
        days = [date(YEAR, 1, 1) + timedelta(d) for d in range(365)]
        per_day = self.target / 365
        made = 0
        for i, day in enumerate(days):
            budget = int(per_day * (i + 1)) - made
            for ts, batch in self._day(day, budget):
                made += len(batch)
                yield ts, batch

    def _exchange(self, op: str, ext: str, outcome: str = "ok", **extra: Any) -> dict[str, Any]:
        rid = self.rng.getrandbits(64)
        method = {"create": "POST", "read": "GET", "lookup": "GET"}.get(op, "PATCH")
        body: dict[str, Any] | None = None
        if op in ("create", "update"):
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "externalId": ext,
                "userName": f"{ext.lower()}@example.com",
                "displayName": f"Person {ext}",
                "title": "Engineer",
                "active": True,
            }
        status = 200 if outcome == "ok" else self.rng.choice([429, 500, 503])
        if op == "create" and outcome == "ok":
            status = 201
        return {
            "operation": op,
            "resource_type": "User",
            "external_id": ext,
            "employee_id": ext[1:],
            "attempt": extra.pop("attempt", 1),
            "outcome": outcome,
            "request": {
                "method": method,
                "url": f"{URL}/Users"
                + (f'?filter=externalId eq "{ext}"' if op == "lookup" else ""),
                "headers": {"Content-Type": "application/scim+json"},
                **({"body": body} if body else {}),
            },
            "response": {
                "status": status,
                "headers": {"Content-Type": "application/scim+json"},
                "body": {"id": f"{rid:016x}", "externalId": ext, "active": op != "deactivate"},
            },
            "latency_ms": self.rng.randint(8, 120),
            "request_id": f"{rid:016x}",
            **extra,
        }

    def _day(self, day: date, budget: int) -> Iterator[tuple[str, list[NewEntry]]]:
        rng = self.rng
        run = f"run-{day.isoformat()}"
        out: list[NewEntry] = []
        # config change weekly (Sunday), tested (mostly) and deployed before the next run
        if day.weekday() == 6:
            self.commits += 1
            self.commit = hashlib.sha1(f"c{self.commits}".encode()).hexdigest()  # noqa: S324
            approvals = [{"kind": "Reviewed-By", "name": "Bob", "email": "bob@example.com"}]
            yield self._ts(day, 3600), [NewEntry("git.commit", {
                "repo": "https://git.example.com/iam/provisioning.git", "sha": self.commit,
                "parents": [], "author": "Alice", "author_email": "alice@example.com",
                "authored_at": self._ts(day, 3000)[:19] + "Z", "committer": "Alice",
                "committer_email": "alice@example.com",
                "committed_at": self._ts(day, 3000)[:19] + "Z",
                "message": f"Mapping change {self.commits}", "files": ["mapping.yaml"],
                "signature": {"status": "unsigned"}, "merge": False,
                "approvals": approvals if self.commits % 7 else [],
            }, "collector")]  # fmt: skip
            if self.commits % 10:
                yield self._ts(day, 5400), [NewEntry("test.run", {
                    "commit": self.commit, "suite": "provisioning", "tests": 412, "failures": 0,
                    "errors": 0, "skipped": 3, "passed": True, "duration_s": 48.2,
                    "source": "junit", "failed_tests": [],
                }, "ci")]  # fmt: skip
            yield self._ts(day, 7200), [NewEntry("deploy", {
                "env": "prod", "commit": self.commit,
                "job_url": f"https://ci.example.com/jobs/{self.commits}",
            }, "ci")]  # fmt: skip
        joiners = rng.randint(4, 12)
        leavers = rng.randint(4, 12)
        movers = rng.randint(6, 18)
        changes: list[dict[str, Any]] = []
        exchanges: list[dict[str, Any]] = []
        for _ in range(joiners):
            ext = f"E{self.next_id:06d}"
            self.active.append(self.next_id)
            self.next_id += 1
            changes.append({"op": "create", "resource_type": "User", "external_id": ext})
            exchanges.append(self._exchange("create", ext))
        for _ in range(leavers):
            who = self.active.pop(rng.randrange(len(self.active)))
            ext = f"E{who:06d}"
            late = rng.random()
            lag = 0 if late < 0.7 else 1 if late < 0.95 else rng.randint(2, 9)
            eff = (day - timedelta(lag)).isoformat()
            hr = {"status": "terminated", "effective_date": eff}
            changes.append({"op": "deactivate", "resource_type": "User", "external_id": ext,
                            "hr": hr})  # fmt: skip
            if rng.random() < 0.01:
                exchanges.append(self._exchange("deactivate", ext, "retry", hr=hr))
                exchanges.append(self._exchange("deactivate", ext, attempt=2, hr=hr))
            else:
                exchanges.append(self._exchange("deactivate", ext, hr=hr))
        for _ in range(movers):
            ext = f"E{rng.choice(self.active):06d}"
            changes.append({"op": "update", "resource_type": "User", "external_id": ext,
                            "diff": {"enterprise.department": ["A", "B"]}})  # fmt: skip
            outcome = "failed" if rng.random() < 0.02 else "ok"
            exchanges.append(self._exchange("update", ext, outcome, plan_hash=f"p-{day}"))
            exchanges.append(self._exchange("membership_add", ext))
        for ch in changes:
            exchanges.append(self._exchange("lookup", ch["external_id"]))
        fixed = 3 + len(exchanges)
        reads = max(0, budget - fixed - (5 if day.weekday() == 6 else 0))
        for _ in range(reads):
            ext = f"E{rng.randrange(self.next_id):06d}"
            if self.change_share and rng.random() < self.change_share:  # stress: more changes
                op = "update" if rng.random() < 0.5 else "membership_add"
                exchanges.append(self._exchange(op, ext, plan_hash=f"p-{day}"))
            else:
                exchanges.append(self._exchange("read", ext))
        rng.shuffle(exchanges)
        sec = 6 * 3600
        out.append(NewEntry("run.started", {
            "run_id": run, "mode": "apply", "target": {"name": "app", "url": URL},
            "source": {"path": "hr.csv", "sha256": "0" * 64, "rows": len(self.active),
                       "rejected": 0},
            "mapping": {"path": "mapping.yaml", "sha256": "1" * 64, "git_commit": self.commit,
                        "git_dirty": False},
            "auth": {"method": "env"}, "scimtrail_version": "0.1.0",
        }, "scimtrail", run))  # fmt: skip
        out.append(NewEntry("plan.recorded", {
            "plan_hash": f"p-{day}", "target": {"name": "app"}, "counts": {}, "changes": changes,
        }, "scimtrail", run))  # fmt: skip
        yield self._ts(day, sec), out
        chunk = 5000
        for i in range(0, len(exchanges), chunk):
            sec += 60
            part = exchanges[i : i + chunk]
            yield self._ts(day, sec), [NewEntry("scim.exchange", p, "scimtrail", run) for p in part]
        yield self._ts(day, sec + 60), [NewEntry("run.finished", {
            "run_id": run, "ok": True,
            "counts": {"requests": len(exchanges), "failed": 0, "retries": 0},
            "failures": [], "duration_s": 600.0,
        }, "scimtrail", run)]  # fmt: skip
        if day.day == 28 and day.month % 3 == 0:
            orphans = [{"scim_id": f"o{n}", "user_name": f"svc{n}", "reason": "no HR record"}
                       for n in range(3)]  # fmt: skip
            yield self._ts(day, 20 * 3600), [
                NewEntry("reconcile.report", {"target": "app", "orphans": orphans,
                                              "counts": {"orphans": 3}}, "scimtrail"),
                NewEntry("note", {"review": f"Q{day.month // 3} access review",
                                  "signed_off": True}, "ciso"),
            ]  # fmt: skip


def build(db: str, entries: int, people: int, share: float, log: Any) -> int:
    """Append the synthetic year to an initialised, empty ledger."""
    year = Year(entries, people, change_share=share)
    n = 0
    t0 = time.perf_counter()
    pending: list[NewEntry] = []
    with Ledger.open(db) as ledger:
        for ts, batch in year.days():
            ledger.clock = lambda ts=ts: ts  # type: ignore[misc]
            ledger.append_many(batch)
            n += len(batch)
            if n // 100000 != (n - len(batch)) // 100000:
                log(f"  built {n:,} entries ({n / (time.perf_counter() - t0):,.0f}/s)")
    del pending
    return n


def _key(entries: int, people: int, share: float) -> str:
    return f"{entries}-{people}-s7" + (f"-c{round(share * 100)}" if share else "")


def sqlite_ledger(entries: int, people: int, share: float, rebuild: bool, log: Any) -> str:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"reports-{_key(entries, people, share)}.db"
    if path.exists() and not rebuild:
        log(f"using cached {path}")
        return str(path)
    for suffix in ("", "-wal", "-shm", ".tmp", ".tmp-wal", ".tmp-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    tmp = f"{path}.tmp"
    log(f"building {entries:,} entries into {path} (once; cached afterwards)")
    Ledger.init(tmp)
    build(tmp, entries, people, share, log)
    with Ledger.open(tmp) as led, led.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(tmp, path)
    return str(path)


def pg_ledger(
    base: str, entries: int, people: int, share: float, rebuild: bool, log: Any
) -> str | None:
    schema = "bench_reports_" + _key(entries, people, share).replace("-", "_")
    url = base.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            ).scalar()
            if exists and rebuild:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                exists = None
            if not exists:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        log(f"PostgreSQL unavailable ({type(exc).__name__}); skipping it")
        return None
    sep = "&" if "?" in base else "?"
    db = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    Ledger.init(db)
    with Ledger.open(db) as led:
        size = led.size()
    if size and size >= entries * 0.99:
        log(f"using cached PostgreSQL schema {schema} ({size:,} entries)")
        engine.dispose()
        return db
    if size:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        Ledger.init(db)
    log(f"building {entries:,} entries into PostgreSQL schema {schema}")
    build(db, entries, people, share, log)
    with engine.begin() as conn:
        conn.execute(text(f"ANALYZE {schema}.ledger_entries"))
    engine.dispose()
    return db


# -- measuring (in a fresh process per figure) ------------------------------------
def measure(db: str, what: str) -> dict[str, Any]:
    from reports.coverage import compute_coverage
    from reports.frames import load_frames, scan_floor
    from reports.metrics import compute_metrics
    from reports.periods import parse_period

    period = parse_period(str(YEAR))
    out: dict[str, Any] = {}
    with Ledger.open(db) as ledger:
        t0 = time.perf_counter()
        if what == "scan":
            out["rows"] = scan_floor(ledger, period)
        elif what == "report":
            frames = load_frames(ledger, period)
            t1 = time.perf_counter()
            cov = compute_coverage(ledger, period, frames=frames, verify=False)
            met = compute_metrics(ledger, period, cov.sla, frames=frames)
            out["load_s"] = t1 - t0
            out["rows"] = frames.rows_read
            out["summary"] = met.summary()
            out["coverage"] = cov.summary()
        elif what == "verify":
            out["rows"] = ledger.verify().size
        out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(db: str, what: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", what, "--db", db],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"child {what} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench(name: str, db: str, reps: int, with_verify: bool, log: Any) -> dict[str, Any]:
    scans, reports, rss = [], [], []
    last: dict[str, Any] = {}
    for rep in range(reps):
        order = ["scan", "report"] if rep % 2 == 0 else ["report", "scan"]
        for what in order:
            r = run_child(db, what)
            if what == "scan":
                scans.append(r["seconds"])
            else:
                reports.append(r["seconds"])
                rss.append(r["peak_rss_mb"])
                last = r
        log(f"  {name} rep {rep + 1}: scan {scans[-1]:.2f}s, report {reports[-1]:.2f}s")
    res = {
        "backend": name,
        "rows": last["rows"],
        "scan_s": statistics.median(scans),
        "report_s": statistics.median(reports),
        "load_s": last["load_s"],
        "peak_rss_mb": max(rss),
        "summary": last["summary"],
        "coverage": last["coverage"],
    }
    res["ratio"] = res["report_s"] / res["scan_s"]
    if with_verify:
        res["verify_s"] = run_child(db, "verify")["seconds"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000, help="ledger size (default 1M)")
    ap.add_argument("--people", type=int, default=20_000, help="company size (default 20,000)")
    ap.add_argument(
        "--change-share",
        type=float,
        default=0.0,
        help="stress variant: this share of the filler exchanges are updates and membership "
        "changes instead of reads (default 0: a realistic mix)",
    )
    ap.add_argument("--reps", type=int, default=3, help="repetitions (median; default 3)")
    ap.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (default: test PG)")
    ap.add_argument("--pg-entries", type=int, default=None, help="PostgreSQL ledger size")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--no-verify", action="store_true", help="skip the informational verify")
    ap.add_argument("--rebuild", action="store_true", help="rebuild cached ledgers")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--db", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.db, args.child)))
        return

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results = []
    db = sqlite_ledger(args.entries, args.people, args.change_share, args.rebuild, log)
    results.append(bench("sqlite", db, args.reps, not args.no_verify, log))
    if not args.no_pg:
        pg_n = args.pg_entries or args.entries
        pg = pg_ledger(args.pg_url, pg_n, args.people, args.change_share, args.rebuild, log)
        if pg is not None:
            results.append(bench("postgresql", pg, args.reps, not args.no_verify, log))
    print(f"\nreports over a synthetic year, {args.people:,} people (period {YEAR}):")
    print(f"{'backend':<11} {'rows':>10} {'scan s':>8} {'report s':>9} {'ratio':>6} "
          f"{'peak RSS':>9} {'verify s':>9}  targets")  # fmt: skip
    ok_all = True
    for r in results:
        ok = r["ratio"] <= 2.0 and (r["backend"] != "sqlite" or r["peak_rss_mb"] < 1536)
        ok_all &= ok
        print(
            f"{r['backend']:<11} {r['rows']:>10,} {r['scan_s']:>8.2f} {r['report_s']:>9.2f} "
            f"{r['ratio']:>5.2f}x {r['peak_rss_mb']:>7.0f}MB {r.get('verify_s', float('nan')):>9.2f}"  # noqa: E501
            f"  {'PASS' if ok else 'FAIL'} (report ≤ 2× scan; RSS < 1.5 GB)"
        )
    s = results[0]["summary"]
    print(
        f"\nsanity: {s['joiners']:,} joiners, {s['movers']:,} movers, {s['leavers']:,} leavers, "
        f"lag p50/p95/max {s['lag_p50_business_days']}/{s['lag_p95_business_days']}/"
        f"{s['lag_max_business_days']} business days, {s['sla_breaches']:,} breaches, "
        f"{s['untested_config_changes']} untested config versions; coverage "
        f"{results[0]['coverage']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
