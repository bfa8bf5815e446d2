"""Suite-wide fixtures: every ledger test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``SCIMTRAIL_TEST_PG`` (default the machine's server,
``postgresql://postgres@127.0.0.1:5432/test``). Each test gets its own schema, so
tests never see each other's rows. When the server is down the PostgreSQL cases
are skipped locally and fail the run in CI (``CI=true``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from evidence.ledger import Ledger

PG_BASE = os.environ.get("SCIMTRAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, bool] = {}


def _pg_available() -> bool:
    if "ok" not in _pg_state:
        try:
            engine = create_engine(PG_BASE, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["ok"] = True
        except OperationalError:
            _pg_state["ok"] = False
    return _pg_state["ok"]


def require_pg() -> None:
    if not _pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_BASE} is not reachable and CI=true")
        pytest.skip("PostgreSQL is not reachable")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_pg()
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG_BASE)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_BASE else "?"
    yield f"{PG_BASE}{sep}options={quote(f'-csearch_path={schema}')}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    """An initialised, open, empty ledger on each backend."""
    Ledger.init(db_url)
    with Ledger.open(db_url) as opened:
        yield opened


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    db = str(tmp_path / "ledger.db")
    Ledger.init(db)
    with Ledger.open(db) as opened:
        yield opened
