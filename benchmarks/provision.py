"""Provisioning benchmark: scimtrail against a bare httpx loop, on loopback scim2-servers.

    .venv/bin/python benchmarks/provision.py [--quick] [--json OUT]

In one run:

* initial sync of N people (10,000; ``--quick`` 1,000) in G groups (50; quick 10):
  ``provisioner.apply.apply_run`` (read target, plan, record the plan, apply with the
  evidence ledger on SQLite — evidence capture is never switched off) against a fresh
  ``scim2-server``; the baseline is a bare httpx loop sending the same requests (same
  bodies, built before the clock starts; same order of phases; same concurrency) to
  another fresh server of the same kind. Ratio = scimtrail / baseline wall time.
* incremental sync after a 1 % change (title changes, department moves, terminations):
  the requests it sends (reads + writes) next to the number of changes, and its time as
  a fraction of the initial sync.
* memory: peak RSS of a child process that plans 100,000 people (``--quick`` 20,000)
  against an empty in-process target, next to the RSS of the same process after
  importing everything (the floor).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from evidence.ledger import Ledger  # noqa: E402
from provisioner import mapping as mp  # noqa: E402
from provisioner import sources  # noqa: E402
from provisioner.apply import RunContext, apply_run, plan_run  # noqa: E402
from provisioner.config import Target  # noqa: E402
from provisioner.sources import EXAMPLE_COLUMNS  # noqa: E402

TODAY = date(2026, 12, 3)
CONCURRENCY = 4
MAPPING = """
version: 1
source: {key: employee_id, status: status, emails: [email], dates: [hire_date, termination_date]}
lifecycle: {active: [Active], suspended: [On Leave], terminated: [Terminated],
            effective_date: termination_date}
user:
  userName: "{email|lower}"
  name.givenName: "{first_name}"
  name.familyName: "{last_name}"
  displayName: "{first_name} {last_name}"
  title: {from: job_title}
  emails.work: "{email|lower}"
  enterprise.employeeNumber: "{employee_id}"
  enterprise.department: {from: department}
groups:
  - {displayName: "Department: {department}", externalId: "dept:{department|slug}"}
"""
FIRST = ["محمد", "Sarah", "فاطمة", "James", "نورة", "Priya", "خالد", "Lucas", "ريم", "Omar"]
LAST = ["العتيبي", "Mitchell", "الزهراني", "O'Connor", "الشهري", "Raman", "الدوسري", "Rossi"]
COLUMNS = EXAMPLE_COLUMNS


def people(n: int, groups: int) -> list[dict[str, str]]:
    rnd = random.Random(7)
    return [
        {
            "employee_id": f"E{i:06d}",
            "first_name": rnd.choice(FIRST),
            "last_name": rnd.choice(LAST),
            "email": f"user{i}@example.sa",
            "department": f"Department {i % groups:02d}",
            "job_title": rnd.choice(["Engineer", "Analyst", "Manager", "Accountant"]),
            "status": "Active",
            "hire_date": "2020-01-01",
            "termination_date": "",
            "manager_id": "",
        }
        for i in range(n)
    ]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScimServer:
    def __init__(self) -> None:
        self.port = free_port()
        exe = Path(sys.executable).with_name("scim2-server")
        self.proc = subprocess.Popen(
            [str(exe), "--hostname", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}/v2"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ServiceProviderConfig", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("scim2-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def bare_loop(url: str, m: mp.MappingFile, rows: list[dict[str, str]], page: int) -> dict[str, Any]:
    """The same requests as scimtrail's initial sync, sent by a plain httpx loop."""
    users = [mp.to_payload(m.attributes(r)) | {"active": True} for r in rows]
    groups: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for r in rows:
        for ext, name in m.groups_for(r).items():
            groups[ext] = name
            members.setdefault(ext, []).append(r["employee_id"])
    ids: dict[str, str] = {}
    gids: dict[str, str] = {}
    n = 0
    t0 = time.perf_counter()
    with (
        httpx.Client(base_url=url + "/", timeout=60) as c,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        c.get("ServiceProviderConfig")
        for res in ("Users", "Groups"):
            c.get(res, params={"startIndex": 1, "count": page})
        n += 3

        def post_group(ext: str) -> None:
            body = {
                "schemas": [mp.GROUP_SCHEMA],
                "displayName": groups[ext],
                "externalId": ext,
                "members": [],
            }
            gids[ext] = c.post("Groups", json=body).json()["id"]

        def post_user(body: dict[str, Any]) -> None:
            ids[body["externalId"]] = c.post("Users", json=body).json()["id"]

        def add(ext: str, chunk: list[str]) -> None:
            ops = [{"op": "add", "path": "members", "value": [{"value": ids[e]} for e in chunk]}]
            c.patch(
                f"Groups/{gids[ext]}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": ops,
                },
            )

        list(pool.map(post_group, sorted(groups)))
        list(pool.map(post_user, users))
        tasks = [
            (g, ms[i : i + 200])
            for g, ms in sorted(members.items())
            for i in range(0, len(ms), 200)
        ]
        list(pool.map(lambda t: add(*t), tasks))
        n += len(groups) + len(users) + len(tasks)
    return {"seconds": time.perf_counter() - t0, "requests": n}


def scimtrail_run(
    url: str, m: mp.MappingFile, csv_path: Path, db: str, *, plan_only: bool = False
) -> dict[str, Any]:
    t0 = time.perf_counter()
    src = sources.read(csv_path, m)
    t = Target(name="bench", url=url, auth={"method": "none"}, concurrency=CONCURRENCY)
    with Ledger.open(db) as ledger:
        rc = RunContext(t, m, ledger, "benchmark", today=TODAY)
        r = plan_run(rc, src) if plan_only else apply_run(rc, src, allow_mass_deprovision=True)
    seconds = time.perf_counter() - t0
    assert r.ok, r.failures[:5]
    writes = sum(v for k, v in r.counts.items() if k != "skipped")
    with Ledger.open(db) as ledger:
        methods = [
            e.payload["request"]["method"]
            for e in ledger.entries(kind="scim.exchange", run_id=r.run_id)
        ]
    return {
        "seconds": seconds,
        "reads": methods.count("GET"),
        "writes": len(methods) - methods.count("GET"),
        "requests": r.requests,
        "changes": writes,
        "counts": r.counts,
    }


def memory_child(n: int) -> None:
    """Run in a subprocess: print the RSS floor, then the peak after planning n people."""
    import resource

    from scim2_server.applications.wsgi import WSGIApplication
    from scim2_server.memory import InMemoryStorage
    from scim2_server.utils import load_default_provider

    def rss() -> int:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    tmp = Path(tempfile.mkdtemp())
    m = mp.parse(__import__("yaml").safe_load(MAPPING), "bench", "0" * 64)
    path = write_csv(tmp / "hr.csv", people(n, 50))
    db = str(tmp / "ledger.db")
    Ledger.init(db)
    floor = rss()
    app = WSGIApplication(InMemoryStorage(), load_default_provider())
    t = Target(name="mem", url="http://scim.test/v2", auth={"method": "none"})
    src = sources.read(path, m)
    with Ledger.open(db) as ledger:
        rc = RunContext(
            t, m, ledger, "benchmark", transport=httpx.WSGITransport(app=app), today=TODAY
        )
        r = plan_run(rc, src)
    print(json.dumps({"floor": floor, "peak": rss(), "changes": len(r.plan.changes)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="1,000 people, 10 groups, 20,000 for memory"
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    n, g, mem_n = (1000, 10, 20000) if args.quick else (10000, 50, 100000)
    tmp = Path(tempfile.mkdtemp(prefix="scimtrail-bench-"))
    m = mp.parse(__import__("yaml").safe_load(MAPPING), "bench", "0" * 64)
    rows = people(n, g)
    csv_path = write_csv(tmp / "hr.csv", rows)
    page = Target(name="x", url="http://x").page_size
    out: dict[str, Any] = {"people": n, "groups": g, "concurrency": CONCURRENCY}

    print(
        f"initial sync: {n:,} people in {g} groups, concurrency {CONCURRENCY}, "
        f"{args.reps} interleaved repetitions on fresh servers (medians)",
        flush=True,
    )
    changed = [dict(r) for r in rows]
    rnd = random.Random(11)
    picks = rnd.sample(range(n), max(3, n // 100))
    third = len(picks) // 3
    for k, i in enumerate(picks):
        if k < third:
            changed[i]["job_title"] = "Senior " + changed[i]["job_title"]
        elif k < 2 * third:
            changed[i]["department"] = f"Department {(i + 1) % g:02d}"
        else:
            changed[i]["status"] = "Terminated"
            changed[i]["termination_date"] = "2026-11-30"
    inc_path = write_csv(tmp / "hr-1pct.csv", changed)
    bases: list[float] = []
    oursl: list[float] = []
    incs: list[dict[str, Any]] = []
    for rep in range(args.reps):
        base_srv, our_srv = ScimServer(), ScimServer()
        try:
            db = str(tmp / f"ledger-{rep}.db")
            Ledger.init(db)
            if rep % 2 == 0:
                base = bare_loop(base_srv.url, m, rows, page)
                ours = scimtrail_run(our_srv.url, m, csv_path, db)
            else:
                ours = scimtrail_run(our_srv.url, m, csv_path, db)
                base = bare_loop(base_srv.url, m, rows, page)
            bases.append(base["seconds"])
            oursl.append(ours["seconds"])
            print(
                f"  rep {rep + 1}: bare loop {base['seconds']:6.2f} s, scimtrail "
                f"{ours['seconds']:6.2f} s ({ours['seconds'] / base['seconds']:.3f}x)",
                flush=True,
            )
            incs.append(scimtrail_run(our_srv.url, m, inc_path, db))
        finally:
            base_srv.stop()
            our_srv.stop()
    with Ledger.open(db) as ledger:
        entries = ledger.size()
        ledger.verify()
    b_med, o_med = statistics.median(bases), statistics.median(oursl)
    ratio = o_med / b_med
    print(f"  bare httpx loop : {b_med:7.2f} s  {base['requests']:,} requests")
    print(
        f"  scimtrail apply : {o_med:7.2f} s  {ours['requests']:,} requests, "
        f"{entries:,} ledger entries in the last ledger (verified)"
    )
    print(f"  ratio           : {ratio:.3f}x  (target <= 1.15x)", flush=True)
    out["initial"] = {
        "baseline_s": bases,
        "scimtrail_s": oursl,
        "ratio": ratio,
        "baseline_requests": base["requests"],
        "scimtrail_requests": ours["requests"],
    }
    inc = incs[-1]
    inc_med = statistics.median(i["seconds"] for i in incs)
    frac = inc_med / o_med
    print(f"incremental sync after a 1% change ({len(picks)} people):")
    print(
        f"  changes applied : {inc['changes']:,} "
        f"({', '.join(f'{k} {v}' for k, v in inc['counts'].items() if v)})"
    )
    print(
        f"  requests        : {inc['requests']:,} = {inc['reads']} reads (config, count probe, "
        f"a lookup per changed person, groups) + {inc['writes']} writes (memberships batched "
        "per group)"
    )
    print(f"  time            : {inc_med:.2f} s = {frac:.1%} of the initial sync", flush=True)
    out["incremental"] = {
        "people_changed": len(picks),
        "changes": inc["changes"],
        "requests": inc["requests"],
        "reads": inc["reads"],
        "writes": inc["writes"],
        "seconds": [i["seconds"] for i in incs],
        "fraction_of_initial": frac,
    }

    print(f"memory: plan {mem_n:,} people against an empty target (child process)", flush=True)
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(mem_n)],
        capture_output=True,
        check=True,
        text=True,
    )
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    per = (mem["peak"] - mem["floor"]) / mem_n
    print(f"  RSS after imports: {mem['floor'] / 2**20:7.1f} MiB")
    print(
        f"  peak RSS         : {mem['peak'] / 2**20:7.1f} MiB  ({per / 1024:.1f} KiB per person, "
        f"{mem['changes']:,} planned changes)"
    )
    out["memory"] = mem | {"people": mem_n, "bytes_per_person": per}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
