"""Audit pack benchmark: a quarter of 100,000 provisioning events and 2,000 leavers.

    .venv/bin/python benchmarks/pack.py [--events N] [--leavers L] [--reps R] [--rebuild]

The ledger (2026-Q3, a synthetic clock) is built once with ``append_many`` and cached
under /tmp/scimtrail-bench/pack-<N>-<L>.db: daily provisioning runs (run.started,
plan.recorded, scim.exchange in the provisioner's recorded shape, run.finished), joiners,
movers, leavers (about 3 % reported late), group memberships, weekly config commits with
test runs and deployments, a few rejected HR rows.

Each measurement runs in a fresh process on a fresh copy of the ledger (so ``peak RSS`` is
the pack's own) and the variants are interleaved, median of ``--reps``:

* **pack**: ``build_pack`` for 2026-Q3 (signed), split into queries (chain re-walk against
  the checkpoint + scan, metrics, coverage, samples and proofs), assembly (export,
  attachments, manifest), rendering (HTML → PDF) and signing (PAdES);
* **scan** (baseline): stream every entry of the period with ``evidence.query.stream`` and
  decode its JSON — the least any report over the period must do;
* **empty pack** (baseline): the same pack for 2026-Q1, where the ledger holds nothing,
  i.e. the fixed cost of templates, fonts, PDF and signature;
* **verify**: ``verify_pack`` of the pack just built (every check of verify-pack).

Targets: pack < 60 s and peak RSS < 1 GB on the reference machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evidence.ledger import Ledger
from evidence.model import NewEntry

CACHE = Path("/tmp/scimtrail-bench")
URL = "https://scim.example.com/scim/v2"
Q_START = date(2026, 7, 1)
DAYS = 92
FIRST = ["محمد", "Sarah", "فاطمة", "Omar", "نورة", "Liam", "عبدالله", "Chen", "Aisha", "Zoë"]
LAST = ["العتيبي", "Mitchell", "الزهراني", "Haddad", "Müller", "O'Brien", "الحربي", "Wei"]


def _exchange(op: str, i: int, day: date, plan: str, *, eff: str | None = None) -> dict[str, Any]:
    name = f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}"
    user = f"user{i}@example.sa"
    if op in ("membership_add", "membership_remove"):
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add" if op == "membership_add" else "remove",
                                "path": "members", "value": [{"value": f"u-{i}"}]}]}  # fmt: skip
        method, url, status, rtype = "PATCH", f"{URL}/Groups/g-{i % 40}", 204, "Group"
    elif op == "create":
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "externalId": f"E{i}",
                "userName": user, "displayName": name, "active": True,
                "name": {"givenName": FIRST[i % len(FIRST)], "familyName": LAST[i % len(LAST)]},
                "title": "Engineer", "emails": [{"value": user, "type": "work", "primary": True}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": f"E{i}", "department": "Engineering"}}  # fmt: skip
        method, url, status, rtype = "POST", f"{URL}/Users", 201, "User"
    else:
        value = False if op == "deactivate" else "Finance"
        path = "active" if op == "deactivate" else "department"
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": path, "value": value}]}  # fmt: skip
        method, url, status, rtype = "PATCH", f"{URL}/Users/u-{i}", 200, "User"
    response = {"status": status, "headers": {"content-type": "application/scim+json",
                                              "etag": f'W/"{i}"'}}  # fmt: skip
    if status != 204:
        response["body_text"] = json.dumps({**body, "id": f"u-{i}", "meta": {"version": "W/1"}})
    return {
        "operation": op, "resource_type": rtype, "external_id": f"E{i}" if rtype == "User"
        else f"dept:{i % 40}", "employee_id": f"E{i}", "scim_id": f"u-{i}", "plan_hash": plan,
        "attempt": 1, "outcome": "ok",
        "request": {"method": method, "url": url, "body_text": json.dumps(body),
                    "headers": {"authorization": "Bearer not-a-real-token",
                                "content-type": "application/scim+json",
                                "user-agent": "python-httpx/0.28.1"}},
        "response": response, "latency_ms": 12,
        "hr": {"status": "Terminated", "effective_date": eff} if eff else {"status": "Active"},
    }  # fmt: skip


def build(db: str, events: int, leavers: int) -> None:
    """The quarter, day by day, with ledger timestamps from a synthetic clock."""
    rnd = random.Random(7)
    per_day = events // DAYS
    leavers_per_day = leavers / DAYS
    clock = {"t": datetime(2026, 7, 1, 2, 0, 0)}

    def fake_now() -> str:
        clock["t"] += timedelta(microseconds=500)
        return clock["t"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    Ledger.init(db)
    with Ledger.open(db, clock=fake_now) as ledger:
        person = 100000
        left = 0
        written = 0
        for d in range(DAYS):
            day = Q_START + timedelta(days=d)
            clock["t"] = datetime(day.year, day.month, day.day, 2, 0, 0)
            run, plan = f"run-{day}", f"{d:064x}"
            batch: list[NewEntry] = []
            if day.weekday() == 0:
                sha = f"{d:040x}"
                batch += [
                    NewEntry("git.commit", {"repo": "config", "sha": sha, "parents": [],
                             "author": "Huda", "author_email": "h@example.sa",
                             "authored_at": f"{day}T08:00:00Z", "committer": "Huda",
                             "committer_email": "h@example.sa",
                             "committed_at": f"{day}T08:00:00Z", "message": "mapping",
                             "files": ["mapping.yaml"], "signature": {"status": "N"},
                             "merge": False}, "collector"),
                    NewEntry("test.run", {"commit": sha, "suite": "provisioner",
                             "tests": 120, "failures": 0, "errors": 0, "skipped": 0,
                             "passed": True, "duration_s": 30.0, "source": "junit",
                             "failed_tests": []}, "ci"),
                    NewEntry("deploy", {"env": "prod", "commit": sha,
                             "job_url": "https://ci.example.sa/1"}, "ci"),
                ]  # fmt: skip
            commit = f"{d - d % 7:040x}"
            batch.append(NewEntry("run.started", {
                "run_id": run, "mode": "apply", "target": {"name": "app", "url": URL},
                "source": {"path": "hr.csv", "sha256": "ab" * 32, "rows": 20000,
                           "rejected": 0},
                "mapping": {"path": "mapping.yaml", "sha256": "cd" * 32,
                            "git_commit": commit, "git_dirty": False},
                "auth": {"method": "env"}, "scimtrail_version": "0.1.0"},
                "provisioner", run))  # fmt: skip
            n_leave = int((d + 1) * leavers_per_day) - left
            ops: list[tuple[str, int, str | None]] = []
            for _ in range(n_leave):
                late = rnd.random() < 0.03
                eff = day - timedelta(days=rnd.randint(3, 6)) if late else day
                ops.append(("deactivate", rnd.randint(1, person), eff.isoformat()))
            left += n_leave
            for _ in range(28):
                person += 1
                ops.append(("create", person, None))
            ops += [("update", rnd.randint(1, person), None) for _ in range(65)]
            ops += [(rnd.choice(("membership_add", "membership_remove")),
                     rnd.randint(1, person), None)
                    for _ in range(max(0, per_day - len(ops)))]  # fmt: skip
            changes = [{"op": op, "resource_type": "User", "external_id": f"E{i}",
                        **({"diff": {"department": ["Sales", "Finance"]}}
                           if op == "update" else {}),
                        **({"hr": {"status": "Terminated", "effective_date": eff}}
                           if eff else {})}
                       for op, i, eff in ops if not op.startswith("membership")]  # fmt: skip
            batch.append(NewEntry("plan.recorded", {"plan_hash": plan, "target": "app",
                                  "counts": {}, "changes": changes},
                                  "provisioner", run))  # fmt: skip
            batch += [NewEntry("scim.exchange", _exchange(op, i, day, plan, eff=eff),
                               "provisioner", run) for op, i, eff in ops]  # fmt: skip
            written += len(ops)
            if d % 30 == 0:
                batch.append(NewEntry("hr.rejected", {"file": "hr.csv", "row": 17 + d,
                                      "field": "email", "reason": "not an e-mail"},
                                      "provisioner", run))  # fmt: skip
            batch.append(NewEntry("run.finished", {"run_id": run, "ok": True,
                                  "counts": {"requests": len(ops)}, "failures": [],
                                  "duration_s": 60.0}, "provisioner", run))  # fmt: skip
            for k in range(0, len(batch), 5000):
                ledger.append_many(batch[k : k + 5000])
        print(f"  built {db}: {written:,} provisioning events, {left:,} leavers", flush=True)


def keys(d: Path) -> None:
    from evidence import checkpoint as cpmod
    from reports.sign import make_self_signed

    if not (d / "signer.pem").exists():
        make_self_signed(d / "signer.key", d / "signer.pem", "benchmark signer")
    cpmod.load_or_create_key(d / "ledger.pem")


def child(what: str, db: str, d: str) -> dict[str, Any]:
    """One measurement in this (fresh) process; prints JSON."""
    import resource

    from evidence import query
    from reports.pack_build import PackOptions, build_pack
    from reports.periods import parse_period

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with Ledger.open(db) as ledger:
        if what == "verify":
            from reports.verify_pack import verify_pack

            out["checks"] = len(verify_pack(Path(d) / "pack.pdf").checks)
        elif what == "scan":
            period = parse_period("2026-Q3")
            n = 0
            kinds = ("scim.exchange", "run.started", "run.finished", "plan.recorded",
                     "git.commit", "test.run", "deploy", "hr.rejected", "checkpoint")  # fmt: skip
            for batch in query.stream(ledger, kinds, since=period.since, until=period.until):
                for row in batch:
                    if row[5] is not None:
                        json.loads(row[5])
                    n += 1
            out["rows"] = n
        else:
            label = "2026-Q3" if what == "pack" else "2026-Q1"
            opts = PackOptions(period=parse_period(label), ledger_key=Path(d) / "ledger.pem",
                               pdf_key=Path(d) / "signer.key", pdf_cert=Path(d) / "signer.pem",
                               seed="bench")  # fmt: skip
            res = build_pack(ledger, opts, Path(d) / f"{what}.pdf")
            out.update(pages=res.pages, timings=res.timings,
                       bytes=(Path(d) / f"{what}.pdf").stat().st_size)  # fmt: skip
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_child(what: str, base_db: Path, d: Path) -> dict[str, Any]:
    scratch = d / f"scratch-{what}.db"
    shutil.copy(base_db, scratch)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", what, "--db", str(scratch), "--dir", str(d)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    scratch.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--leavers", type=int, default=2_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--db")
    ap.add_argument("--dir")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db, args.dir)))
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    db = CACHE / f"pack-{args.events}-{args.leavers}.db"
    if args.rebuild or not db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        print(f"building the ledger ({args.events:,} events, {args.leavers:,} leavers) …")
        t = time.perf_counter()
        build(str(db), args.events, args.leavers)
        print(f"  in {time.perf_counter() - t:.0f} s")
    work = CACHE / "pack-work"
    work.mkdir(exist_ok=True)
    keys(work)
    results: dict[str, list[dict[str, Any]]] = {"scan": [], "empty": [], "pack": [], "verify": []}
    for rep in range(args.reps):
        for what in ("scan", "empty", "pack", "verify"):
            r = run_child(what, db, work)
            results[what].append(r)
            print(f"  rep {rep + 1}/{args.reps} {what}: {r['seconds']:.1f} s, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip

    def med(what: str, key: str, sub: str | None = None) -> float:
        vals = [r[key][sub] if sub else r[key] for r in results[what]]
        return float(statistics.median(vals))

    pack_s, scan_s, empty_s = (
        med("pack", "seconds"),
        med("scan", "seconds"),
        med("empty", "seconds"),
    )
    rss = max(r["peak_rss_mib"] for r in results["pack"])
    pages = results["pack"][-1]["pages"]
    split = {k: med("pack", "timings", k) for k in ("queries", "assembly", "rendering", "signing")}
    rows = [
        ("scan of the period (baseline)", f"{scan_s:.1f} s", "1.0×"),
        ("empty pack (baseline)", f"{empty_s:.1f} s", f"{empty_s / scan_s:.1f}× scan"),
        ("pack, total", f"{pack_s:.1f} s", f"{pack_s / scan_s:.1f}× scan, "
         f"{pack_s / empty_s:.1f}× empty pack"),
        *[(f"  {k}", f"{v:.1f} s", f"{100 * v / pack_s:.0f} %") for k, v in split.items()],
        ("pages / PDF size", f"{pages}", f"{results['pack'][-1]['bytes'] / 2**20:.1f} MiB"),
        ("peak RSS of the pack process", f"{rss:.0f} MiB", ""),
        ("verify-pack of that pack", f"{med('verify', 'seconds'):.1f} s",
         f"{med('verify', 'seconds') / scan_s:.1f}× scan, peak RSS "
         f"{max(r['peak_rss_mib'] for r in results['verify']):.0f} MiB"),
    ]  # fmt: skip
    print()
    print(f"Audit pack, 2026-Q3: {args.events:,} provisioning events, {args.leavers:,} leavers "
          f"(median of {args.reps})")  # fmt: skip
    for name, value, ratio in rows:
        print(f"  {name:<32} {value:>10}  {ratio}")
    ok_t, ok_m = pack_s < 60, rss < 1024
    print(f"  target pack < 60 s: {'PASS' if ok_t else 'FAIL'}; "
          f"peak RSS < 1 GB: {'PASS' if ok_m else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
