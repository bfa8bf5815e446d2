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
