"""Fixtures for the provisioning tests: a real scim2-server in-process, HR files, runs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.memory import InMemoryStorage
from scim2_server.utils import load_default_provider

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner import sources
from provisioner.apply import RunContext, RunResult, apply_run, plan_run
from provisioner.config import Target
from provisioner.sources import EXAMPLE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MAPPING = ROOT / "examples" / "mapping.yaml"
EXAMPLE_HR = ROOT / "examples" / "hr.csv"
TODAY = date(2026, 12, 3)
COLUMNS = EXAMPLE_COLUMNS
BASE = "http://scim.test/v2"


def person(eid: str, first: str, last: str, dept: str, title: str, **kw: str) -> dict[str, str]:
    rec = {
        "employee_id": eid,
        "first_name": first,
        "last_name": last,
        "email": kw.pop("email", f"{first}.{last}@example.sa".lower().replace(" ", "")),
        "department": dept,
        "job_title": title,
        "status": "Active",
        "hire_date": "2020-01-01",
        "termination_date": "",
        "manager_id": "",
    }
    rec.update(kw)
    return rec


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


class Server:
    """A scim2-server in-process, and a plain client to inspect what it holds."""

    def __init__(self) -> None:
        self.app = WSGIApplication(InMemoryStorage(), load_default_provider())
        self.http = httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url=BASE)

    def transport(self) -> httpx.BaseTransport:
        return httpx.WSGITransport(app=self.app)

    def all(self, resource: str) -> list[dict[str, Any]]:
        body = self.http.get(f"/{resource}", params={"count": 1000}).json()
        return list(body.get("Resources", []))

    def users_by_ext(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for u in self.all("Users"):
            out.setdefault(u.get("externalId"), []).append(u)
        return out

    def user(self, ext: str) -> dict[str, Any]:
        found = self.users_by_ext()[ext]
        assert len(found) == 1, f"{len(found)} accounts for {ext}"
        return found[0]

    def groups_of(self, ext: str) -> set[str]:
        uid = self.user(ext)["id"]
        return {
            g["externalId"]
            for g in self.all("Groups")
            if any(m.get("value") == uid for m in g.get("members") or [])
        }


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def example_mapping() -> mp.MappingFile:
    return mp.load(EXAMPLE_MAPPING)


def target(**kw: Any) -> Target:
    settings: dict[str, Any] = {"name": "test", "url": BASE, "auth": {"method": "none"}}
    settings.update(kw)
    return Target(**settings)


Runner = Callable[..., RunResult]


@pytest.fixture
def run_apply(
    server: Server, example_mapping: mp.MappingFile, tmp_path: Path
) -> Iterator[Callable[..., RunResult]]:
    """apply_run against the in-process server with a fresh SQLite ledger (or ``db``)."""
    opened: list[Ledger] = []

    def run(
        rows: Sequence[dict[str, str]] | Path,
        *,
        db: str | None = None,
        transport: httpx.BaseTransport | None = None,
        t: Target | None = None,
        plan_only: bool = False,
        full: bool = False,
        **kw: Any,
    ) -> RunResult:
        db = db or str(tmp_path / "ledger.db")
        if not Path(db).exists() and "://" not in db:
            Ledger.init(db)
        ledger = Ledger.open(db)
        opened.append(ledger)
        path = rows if isinstance(rows, Path) else write_csv(tmp_path / "hr.csv", rows)
        src = sources.read(path, example_mapping)
        rc = RunContext(
            t or target(),
            example_mapping,
            ledger,
            "tester",
            transport=transport or server.transport(),
            today=kw.pop("today", TODAY),
            clock=kw.pop("clock", None),
            full=full,
        )
        if plan_only:
            return plan_run(rc, src)
        return apply_run(rc, src, **kw)

    yield run
    for ledger in opened:
        ledger.close()


def exchanges(ledger_db: str, run_id: str | None = None) -> list[dict[str, Any]]:
    with Ledger.open(ledger_db) as ledger:
        return [e.payload for e in ledger.entries(kind="scim.exchange", run_id=run_id)]


def writes(ledger_db: str, run_id: str) -> list[dict[str, Any]]:
    return [x for x in exchanges(ledger_db, run_id) if x["request"]["method"] != "GET"]


def body(exchange: dict[str, Any], side: str = "request") -> Any:
    """The body of a recorded exchange, whether recorded verbatim or parsed."""
    part = exchange[side]
    if "body" in part:
        return part["body"]
    return json.loads(part["body_text"]) if part.get("body_text") else None
