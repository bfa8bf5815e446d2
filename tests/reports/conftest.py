from __future__ import annotations

import pytest

from evidence.ledger import Ledger
from tests.reports.seeding import Seeder


@pytest.fixture
def seeder(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Seeder:
    """A seeder over the suite's `ledger` fixture (SQLite and PostgreSQL)."""
    return Seeder(ledger)
