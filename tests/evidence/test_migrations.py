"""Migrations: one head, upgrade from empty, up/down, models match the DDL, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_alembic.tests import (  # the standard suite, run against our fixtures
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine

from evidence import store

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config() -> dict[str, Any]:
    return {"script_location": str(store.alembic_config().get_main_option("script_location"))}


@pytest.fixture
def alembic_engine(db_url: str) -> Iterator[Engine]:
    engine = store.make_engine(db_url, must_exist=False)
    yield engine
    engine.dispose()


def test_a_ledger_of_an_older_revision_is_refused_then_upgraded_keeping_its_chain(
    db_url: str,
) -> None:
    from alembic import command
    from sqlalchemy import text

    from evidence.errors import SchemaOutdated
    from evidence.ledger import Ledger
    from evidence.model import NewEntry
    from evidence.redact import Redactor

    engine = store.make_engine(db_url, must_exist=False)
    with engine.begin() as conn:
        command.upgrade(store.alembic_config(conn), "0001_ledger")
        conn.execute(text("INSERT INTO ledger_meta (key, value) VALUES ('ledger_id', 'old')"))
    # entries written as a 0001 scimtrail wrote them: chained in Python under the lock
    old = Ledger(engine, "old ledger", "old", Redactor())
    batch = [old._prepare(NewEntry("note", {"i": i}, "old-writer")) for i in range(3)]
    old._write(batch, before=lambda cur, size, frontier, link, prepared: prepared)
    engine.dispose()
    with pytest.raises(SchemaOutdated) as refused:
        Ledger.open(db_url)
    assert "at revision 0001_ledger" in refused.value.diagnostics()
    assert "run `scimtrail ledger init" in refused.value.diagnostics()
    before, after, _ = Ledger.init(db_url)
    assert (before, after) == ("0001_ledger", store.head_revision())
    with Ledger.open(db_url) as ledger:
        assert ledger.append("note", {"after": "upgrade"}, actor="new-writer").seq == 4
        assert ledger.verify().size == 4
