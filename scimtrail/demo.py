"""`make demo`: the main job end to end, on a fresh machine, with nothing running.

1. a new ledger and keys under ``--out``;
2. a config repository (the attribute mapping under git), its tests run with pytest and
   recorded (git commits, JUnit test run);
3. a real ``scim2-server`` on a free loopback port;
4. a synthetic HR history for the current quarter (a few hundred people: joiners,
   movers, leavers, a rehire, a leaver HR reported late, one bad HR row), provisioned
   in three runs through :func:`provisioner.api.provision`, the second one through a
   storm of ``429 Too Many Requests`` (with ``Retry-After``) that it must survive;
5. a config change, tested and deployed, used by the third run;
6. the signed audit pack for the quarter, verified offline, plus a tampered copy that
   must fail verification; the server is stopped; where the PDF is and what
   verification said are printed.

Ledger timestamps are real (the demo takes a minute); HR dates span the quarter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from evidence import checkpoint as cpmod
from evidence.collectors.deploy import record_deploy
from evidence.collectors.git import collect_git
from evidence.collectors.junit import record_junit
from evidence.errors import ScimtrailError
from evidence.ledger import Ledger
from provisioner.api import DEFAULT_MAPPING, provision
from reports.pack_build import PackOptions, build_pack
from reports.periods import parse_period
from reports.sign import make_self_signed
from reports.verify_pack import verify_pack
from scimtrail.demo_hr import hr_history

BIN = Path(sys.executable).parent
TOKEN_ENV = "SCIMTRAIL_DEMO_TOKEN"  # noqa: S105 - the name of a variable, not a secret
TOKEN = "demo-bearer-token-do-not-log"  # noqa: S105 - a throwaway token for a loopback server
SEED = "demo-auditor-2026"


class DemoFailed(Exception):
    """A step of the demo could not be done; the message says which and why."""


def say(step: str) -> None:
    print(f"==> {step}", flush=True)


# -- the SCIM server ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scim_server() -> Iterator[str]:
    """A real scim2-server on a loopback port; stopped (by its pid) on the way out."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "scim2-server"),
            "--hostname",
            "127.0.0.1",
            "--port",
            str(port),
            "--bearer-token",
            TOKEN,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v2"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"{url}/ServiceProviderConfig",
                    timeout=1,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DemoFailed(f"scim2-server did not start on port {port}")
            time.sleep(0.2)
        say(f"scim2-server (pid {proc.pid}) listening on {url}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        say(f"scim2-server (pid {proc.pid}) stopped")


class StormTransport(httpx.BaseTransport):
    """From the ``start``-th request on, answers everything with 429 + Retry-After for
    ``seconds``, as a throttling target does; then lets requests through again."""

    def __init__(self, inner: httpx.BaseTransport, start: int, seconds: float) -> None:
        self.inner, self.start, self.seconds = inner, start, seconds
        self.seen = 0
        self.throttled = 0
        self.until = 0.0
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen += 1
            if self.seen == self.start:
                self.until = time.monotonic() + self.seconds
            storm = time.monotonic() < self.until
            self.throttled += storm
        if storm:
            return httpx.Response(
                429,
                headers={"Retry-After": "1", "Content-Type": "application/scim+json"},
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "429",
                    "detail": "Too many requests",
                },
                request=request,
            )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


# -- the config repository, its tests and deployments ---------------------------------------
CONFIG_TEST = '''"""Tests of the provisioning mapping (run by the demo, JUnit recorded)."""
from pathlib import Path

from provisioner import mapping

HERE = Path(__file__).resolve().parent.parent


def test_mapping_loads_and_keys_on_the_hr_employee_id():
    m = mapping.load(HERE / "mapping.yaml")
    assert m is not None


def test_mapping_never_deletes_leavers():
    assert "missing: deactivate" in (HERE / "mapping.yaml").read_text()
'''


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Huda Al-Harbi",
        "GIT_AUTHOR_EMAIL": "huda@example.sa",
        "GIT_COMMITTER_NAME": "Huda Al-Harbi",
        "GIT_COMMITTER_EMAIL": "huda@example.sa",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def test_and_record(ledger: Ledger, repo: Path, junit_dir: Path, n: int) -> None:
    xml = junit_dir / f"mapping-tests-{n}.xml"
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--rootdir", str(repo), f"--junitxml={xml}", str(repo / "tests")],
        capture_output=True, text=True, cwd=repo, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise DemoFailed(f"the mapping tests failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    record_junit(ledger, xml, "HEAD", repo=repo, suite="mapping-tests", actor="ci")


def config_repo(out: Path, ledger: Ledger, junit_dir: Path) -> Path:
    repo = out / "config-repo"
    (repo / "tests").mkdir(parents=True)
    shutil.copy(DEFAULT_MAPPING, repo / "mapping.yaml")
    (repo / "tests" / "test_mapping.py").write_text(CONFIG_TEST, encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(
        repo,
        "commit",
        "-q",
        "-m",
        "Provisioning mapping for the HR export\n\nReviewed-by: Omar Haddad <omar@example.sa>",
    )
    collect_git(ledger, repo, actor="git-collector")
    test_and_record(ledger, repo, junit_dir, 1)
    return repo


def change_config(repo: Path, ledger: Ledger, junit_dir: Path) -> str:
    text = (repo / "mapping.yaml").read_text(encoding="utf-8")
    text = text.replace("lead_days: 14", "lead_days: 7")
    (repo / "mapping.yaml").write_text(text, encoding="utf-8")
    git(
        repo,
        "commit",
        "-q",
        "-am",
        "Accounts appear 7 days before the first day (was 14)"
        "\n\nApproved-by: Omar Haddad <omar@example.sa>",
    )
    collect_git(ledger, repo, actor="git-collector")
    test_and_record(ledger, repo, junit_dir, 2)
    sha = git(repo, "rev-parse", "HEAD")
    record_deploy(
        ledger,
        env="production",
        commit=sha,
        repo=repo,
        job_url="https://ci.example.sa/jobs/4711",
        actor="ci",
    )
    return sha


def record_management(ledger: Ledger, late: str) -> None:
    """What people record by hand: the quarter's access review and an exception response."""
    ledger.append(
        "note",
        {"review": "Quarterly access review of the SCIM target", "signed_off": True,
         "scope": "all active accounts", "reviewer": "Head of IAM"},
        actor="head-of-iam",
    )  # fmt: skip
    seq = next(
        e.seq
        for e in ledger.entries(kind="scim.exchange")
        if e.payload.get("operation") == "deactivate"
        and e.payload.get("external_id") == late
        and e.payload.get("outcome") == "ok"
    )
    ledger.append(
        "note",
        {"exception_id": f"EX-SLA-{seq}", "owner": "HR Operations lead", "status": "remediated",
         "cause": "HR entered the termination eight days after its effective date",
         "action": "terminations now reach scimtrail by webhook on the day HR enters them",
         "due": "2027-01-15"},
        actor="head-of-iam",
    )  # fmt: skip


# -- the main job ---------------------------------------------------------------------------
def run(out: Path) -> int:
    started = time.monotonic()
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    keys, junit_dir = out / "keys", out / "junit"
    keys.mkdir()
    junit_dir.mkdir()
    db = str(out / "scimtrail.db")
    today = datetime.now(UTC).date()
    period = parse_period(f"{today.year}-Q{(today.month - 1) // 3 + 1}")
    say(f"ledger {db}, keys in {keys}")
    Ledger.init(db)
    ledger_key = keys / "ledger-ed25519.pem"
    cpmod.load_or_create_key(ledger_key)
    (keys / "ledger.pub").write_bytes(cpmod.public_pem(cpmod.load_private_key(ledger_key)))
    signer = make_self_signed(
        keys / "pack-signer.key", keys / "pack-signer.pem", "scimtrail demo pack signer"
    )
    say(f"self-signed PDF signing certificate {signer.subject} (sha256 {signer.cert_sha256[:16]}…)")
    with Ledger.open(db) as ledger:
        repo = config_repo(out, ledger, junit_dir)
        say(f"config repository {repo}: commit recorded, mapping tests run and recorded")
    history = hr_history(out, today)
    say(
        f"synthetic HR history for {period.label}: {len(history.snapshots)} exports, "
        f"{history.joiners} joiners, {history.movers} mover changes, {history.leavers} leavers "
        f"(one reported late: {history.late}; one rehired: {history.rehire}), one bad row"
    )
    mapping = repo / "mapping.yaml"
    with scim_server() as url:
        os.environ[TOKEN_ENV] = TOKEN  # the token comes from the environment, as in CI
        common: dict[str, Any] = dict(
            target_url=url,
            db=db,
            auth={"method": "env", "env": TOKEN_ENV},
            mapping=mapping,
            today=today,
            actor="provisioner",
            insecure_http=True,
            concurrency=4,
        )
        r1 = provision(history.snapshots[0], **common)
        say(f"run 1 (initial load): {_counts(r1)}")
        storm = StormTransport(httpx.HTTPTransport(retries=0), start=40, seconds=2.5)
        r2 = provision(history.snapshots[1], transport=storm, skip_invalid=True, **common)
        say(
            f"run 2 (through a 2.5 s storm of 429s: {storm.throttled} requests throttled, "
            f"Retry-After: 1): {_counts(r2)}, {r2.retries} retries"
        )
        with Ledger.open(db) as ledger:
            sha = change_config(repo, ledger, junit_dir)
        say(f"config change {sha[:10]} committed, tested, deployed and recorded")
        r3 = provision(history.snapshots[2], **common)
        say(f"run 3 (rehire, late leaver): {_counts(r3)}")
    with Ledger.open(db) as ledger:
        record_management(ledger, history.late)
    say("access review sign-off and the management response to the late leaver recorded")
    options = PackOptions(
        period=period,
        seed=SEED,
        organisation="Example Organisation (demo)",
        junit_dir=junit_dir,
        ledger_key=ledger_key,
        pdf_key=keys / "pack-signer.key",
        pdf_cert=keys / "pack-signer.pem",
    )
    pdf = out / f"audit-pack-{period.label}.pdf"
    with Ledger.open(db) as ledger:
        stored = _stored_token(ledger)
        result = build_pack(ledger, options, pdf, progress=lambda m: say(f"pack: {m}"))
    say(f"the bearer token was stored in the ledger as {stored!r}")
    say(
        f"audit pack {result.pack_id}: {result.pages} pages, {result.attachments} attachments, "
        f"{result.exceptions} exceptions; unsigned sha256 {result.unsigned_sha256[:16]}…"
    )
    report = verify_pack(
        pdf,
        pubkey=keys / "ledger.pub",
        cert=keys / "pack-signer.pem",
        say=lambda m: print(f"    {m}"),
    )
    verdict = f"VERIFIED ({len(report.checks)} checks passed)"
    tampered = out / "tampered-copy.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x20
    tampered.write_bytes(bytes(data))
    try:
        verify_pack(tampered, pubkey=keys / "ledger.pub", cert=keys / "pack-signer.pem")
    except ScimtrailError as exc:
        say(f"a copy with one byte changed is refused: {exc.message}")
    else:
        print("the tampered copy verified: this is a bug", file=sys.stderr)
        return 1
    print()
    print(f"Audit pack: {pdf.resolve()}")
    print(f"Verification: {verdict}")
    print(
        f"Re-check it yourself: .venv/bin/scimtrail report verify-pack {pdf} "
        f"--pubkey {keys / 'ledger.pub'} --cert {keys / 'pack-signer.pem'}"
    )
    print(f"Done in {time.monotonic() - started:.0f} s.")
    return 0


def _counts(result: object) -> str:
    counts = getattr(result, "counts", {}) or {}
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    ok = "ok" if getattr(result, "ok", False) else "FAILED"
    return f"{ok}: {shown or 'no changes'}"


def _stored_token(ledger: Ledger) -> str:
    for e in ledger.entries(kind="scim.exchange", limit=1):
        headers = (e.payload or {}).get("request", {}).get("headers", {})
        return str(headers.get("Authorization") or headers.get("authorization") or "absent")
    return "absent"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the scimtrail main job end to end.")
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    args = parser.parse_args(argv)
    try:
        return run(args.out)
    except ScimtrailError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except (DemoFailed, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: the demo stopped: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
