"""End to end through the `scimtrail` command against scim2-server on a loopback port.

Includes the crash test (SIGKILL in the middle of a large apply, rerun, converge) and
the secrets test (a canary token never reaches the ledger, plan files or output).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.provisioner.conftest import EXAMPLE_HR, EXAMPLE_MAPPING, person, write_csv

BIN = Path(sys.executable).parent
CANARY = "canary-7f3a9c-DO-NOT-LEAK-0b1d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, token: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(BIN / "scim2-server"),
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--bearer-token",
                token,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}/v2"
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.http.get("/ServiceProviderConfig").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("scim2-server did not start")

    def users(self) -> list[dict]:
        out: list[dict] = []
        start = 1
        while True:
            page = self.http.get("/Users", params={"startIndex": start, "count": 1000}).json()
            items = page.get("Resources", [])
            out.extend(items)
            if not items or len(out) >= page["totalResults"]:
                return out
            start += len(items)

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def live() -> Iterator[LiveServer]:
    srv = LiveServer(CANARY)
    yield srv
    srv.stop()


def scimtrail(
    *args: str, env: dict[str, str], check: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "scimtrail"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=check,
    )


def environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SCIMTRAIL_DB": str(tmp_path / "ledger.db"),
            "SCIMTRAIL_SCIM_TOKEN": CANARY,
            "SCIMTRAIL_ACTOR": "ci-bot",
        }
    )
    env.pop("SCIMTRAIL_CONFIG", None)
    return env


def test_plan_review_apply_and_verify_through_the_cli(live: LiveServer, tmp_path: Path) -> None:
    env = environment(tmp_path)
    scimtrail("ledger", "init", env=env, check=True)
    common = ["--mapping", str(EXAMPLE_MAPPING), "--target", live.url, "--today", "2026-12-03"]
    plan = tmp_path / "plan.json"
    p = scimtrail(
        "provision", "plan", "--source", str(EXAMPLE_HR), *common, "--out", str(plan), env=env
    )
    assert p.returncode == 0, p.stderr
    assert "create" in p.stdout
    assert live.users() == [], "plan writes nothing"
    a = scimtrail("provision", "apply", "--plan", str(plan), *common, env=env)
    assert a.returncode == 0, a.stderr
    assert "applied:" in a.stdout
    assert len(live.users()) == 27
    again = scimtrail("provision", "apply", "--source", str(EXAMPLE_HR), *common, env=env)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    v = scimtrail("ledger", "verify", env=env)
    assert v.returncode == 0, v.stderr
    # secrets: the canary token is nowhere
    out = p.stdout + p.stderr + a.stdout + a.stderr + again.stdout + again.stderr + v.stdout
    assert CANARY not in out
    assert CANARY.encode() not in plan.read_bytes()
    for f in tmp_path.glob("ledger.db*"):
        assert CANARY.encode() not in f.read_bytes(), f


def test_a_wrong_token_fails_cleanly_without_printing_it(live: LiveServer, tmp_path: Path) -> None:
    env = environment(tmp_path) | {"SCIMTRAIL_SCIM_TOKEN": "wrong-" + CANARY}
    scimtrail("ledger", "init", env=env, check=True)
    r = scimtrail(
        "provision",
        "apply",
        "--source",
        str(EXAMPLE_HR),
        "--mapping",
        str(EXAMPLE_MAPPING),
        "--target",
        live.url,
        env=env,
    )
    assert r.returncode == 1
    assert "401" in r.stderr
    assert CANARY not in r.stdout + r.stderr
    for f in tmp_path.glob("ledger.db*"):
        assert CANARY.encode() not in f.read_bytes()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    env = environment(tmp_path)
    r = scimtrail(
        "provision",
        "apply",
        "--target",
        "no-such-target",
        "--mapping",
        str(EXAMPLE_MAPPING),
        "--source",
        str(EXAMPLE_HR),
        env=env,
    )
    assert r.returncode == 2
    r = scimtrail("provision", "apply", "--bogus", env=env)
    assert r.returncode == 2


def count_exchanges(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(
                con.execute(
                    "SELECT count(*) FROM ledger_entries WHERE kind = 'scim.exchange'"
                ).fetchone()[0]
            )
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_mid_apply_then_rerun_converges_without_duplicates(
    live: LiveServer, tmp_path: Path
) -> None:
    env = environment(tmp_path)
    scimtrail("ledger", "init", env=env, check=True)
    n = 1200
    rows = [
        person(
            f"K{i:05d}",
            "Test",
            f"Person{i}",
            f"Dept {i % 12}",
            "Engineer",
            email=f"k{i}@example.sa",
        )
        for i in range(n)
    ]
    hr = write_csv(tmp_path / "hr.csv", rows)
    args = [
        "provision",
        "apply",
        "--source",
        str(hr),
        "--mapping",
        str(EXAMPLE_MAPPING),
        "--target",
        live.url,
        "--quiet",
        "--today",
        "2026-12-03",
    ]
    proc = subprocess.Popen(
        [str(BIN / "scimtrail"), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "ledger.db"
    deadline = time.monotonic() + 120
    while count_exchanges(db) < 400 and time.monotonic() < deadline:
        assert proc.poll() is None, "apply finished before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = live.users()
    assert 0 < len(before) < n, "killed in the middle"
    v = scimtrail("ledger", "verify", env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    rerun = scimtrail(*args, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    users = live.users()
    by_ext: dict[str, list[dict]] = {}
    for u in users:
        by_ext.setdefault(u.get("externalId"), []).append(u)
    assert len(users) == n, "no duplicates, nobody missing"
    assert all(len(v) == 1 for v in by_ext.values())
    assert all(u["active"] is True for u in users)
    groups = live.http.get("/Groups", params={"count": 1000}).json()["Resources"]
    dept = {g["externalId"]: {m["value"] for m in g.get("members") or []} for g in groups}
    assert sum(len(v) for k, v in dept.items() if k.startswith("dept:")) == n
    v = scimtrail("ledger", "verify", env=env)
    assert v.returncode == 0, v.stdout + v.stderr
