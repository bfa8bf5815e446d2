"""The pack's one-pass scan over stored rows, fed rows shaped as the provisioner writes them."""

from __future__ import annotations

from typing import Any

import orjson

from evidence.chain import Row
from reports import pack
from reports.periods import parse_period


def _row(seq: int, ts: str, payload: dict[str, Any]) -> Row:
    body = orjson.dumps(payload)
    return Row(seq, ts, "scim.exchange", "provisioner", "run-1", None, b"h" * 32, b"{}",
               b"l" * 32, b"p" * 32, b"k" * 32, b"s" * 16, body, None)  # fmt: skip


def _create(ext: str, name: str) -> dict[str, Any]:
    return {
        "operation": "create", "resource_type": "User", "external_id": ext, "outcome": "ok",
        "employee_id": ext, "scim_id": "u-1",
        "request": {"method": "POST", "body": {"userName": name, "externalId": ext,
                                               "displayName": name.split("@")[0].title()}},
        "response": {"status": 201, "body": {"id": "u-1", "userName": name, "active": True}},
    }  # fmt: skip


def _patch(ext: str) -> dict[str, Any]:
    ops = [{"op": "replace", "path": "title", "value": "Head of Payroll"}]
    return {
        "operation": "update", "resource_type": "User", "external_id": ext, "outcome": "ok",
        "employee_id": ext, "scim_id": "u-1",
        "request": {"method": "PATCH", "body": {"Operations": ops}},
        "response": {"status": 204},
    }  # fmt: skip


def test_a_mover_recorded_by_a_patch_carries_the_name_of_its_account() -> None:
    rows = [
        _row(1, "2026-10-01T08:00:00.000000Z", _create("E1001", "nora.haddad@example.com")),
        _row(2, "2026-11-02T08:00:00.000000Z", _patch("E1001")),
        _row(3, "2026-11-03T08:00:00.000000Z", _patch("E9999")),  # never created here
    ]
    scan = pack.scan(rows, parse_period("2026-Q4"), 3)
    movers = {r[4]: r for r in scan.events["movers"]}
    name = pack.EVENT_COLUMNS.index("user_name")
    assert movers["E1001"][name] == "nora.haddad@example.com"
    assert movers["E9999"][name] == ""  # nothing known: left empty, not invented
    # the sampling table's person column: a PATCH shows the account's last displayName
    assert scan.display == {"E1001": "Nora.Haddad"}
    joiners = scan.events["joiners"]
    assert [r[name] for r in joiners] == ["nora.haddad@example.com"]
