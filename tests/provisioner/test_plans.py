"""Reviewed plans: hashing, tampering, staleness, approvals, thresholds, reconcile, webhook."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from evidence.ledger import Ledger
from provisioner import sources
from provisioner.apply import RunContext, apply_run, approve, load_plan, plan_run
from provisioner.auth import Secret
from provisioner.errors import ApprovalRequired, MassDeprovision, PlanError, PlanStale
from provisioner.reconcile import reconcile
from provisioner.scim import escape_filter
from provisioner.webhook import Receiver, apply_event, make_server, sign
from tests.provisioner.conftest import TODAY, Server, person, target, write_csv


def staff() -> list[dict[str, str]]:
    return [person(f"E{i}", "Person", f"Number{i}", "Engineering", "Engineer") for i in range(1, 9)]


def ctx(example_mapping, ledger, server: Server, actor: str = "alice", **kw) -> RunContext:
    return RunContext(
        kw.pop("t", target()),
        example_mapping,
        ledger,
        actor,
        transport=server.transport(),
        today=TODAY,
        **kw,
    )


@pytest.fixture
def ledger(tmp_path: Path):
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as opened:
        yield opened


def test_a_reviewed_plan_is_applied_exactly_and_needs_a_second_person(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    src = sources.read(write_csv(tmp_path / "hr.csv", staff()), example_mapping)
    planned = plan_run(ctx(example_mapping, ledger, server, "alice"), src)
    path = tmp_path / "plan.json"
    path.write_bytes(planned.plan.to_json())
    strict = target(require_approval=True)
    with pytest.raises(ApprovalRequired):
        apply_run(ctx(example_mapping, ledger, server, "alice", t=strict), None, plan_file=path)
    with pytest.raises(ApprovalRequired):
        approve(ledger, load_plan(path), "alice")
    approve(ledger, load_plan(path), "bob")
    r = apply_run(ctx(example_mapping, ledger, server, "alice", t=strict), None, plan_file=path)
    assert r.ok, r.failures
    assert r.counts["create"] == 8
    entries = [e.payload for e in ledger.entries(kind="plan.approved")]
    assert entries == [
        {"plan_hash": planned.plan.plan_hash, "approver": "bob", "planned_by": "alice"}
    ]
    xs = [e.payload for e in ledger.entries(kind="scim.exchange", run_id=r.run_id)]
    assert all(x.get("plan_hash") == planned.plan.plan_hash for x in xs)
    # applying the same plan again: everything is already done, nothing is sent
    again = apply_run(ctx(example_mapping, ledger, server, "alice"), None, plan_file=path)
    assert again.ok
    assert again.skipped == len(planned.plan.changes)


def test_an_edited_plan_is_refused(example_mapping, ledger, server: Server, tmp_path: Path) -> None:
    src = sources.read(write_csv(tmp_path / "hr.csv", staff()), example_mapping)
    planned = plan_run(ctx(example_mapping, ledger, server), src)
    doc = json.loads(planned.plan.to_json())
    doc["changes"][0]["display_name"] = "Domain Admins"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanError, match="changed after it was made"):
        load_plan(path)


def test_a_plan_whose_target_changed_underneath_is_refused(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    rows = staff()
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    assert apply_run(ctx(example_mapping, ledger, server), src).ok
    rows[0]["job_title"] = "Manager"
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    planned = plan_run(ctx(example_mapping, ledger, server), src)
    path = tmp_path / "plan.json"
    path.write_bytes(planned.plan.to_json())
    uid = server.user("E1")["id"]
    server.http.patch(
        f"/Users/{uid}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Intern"}],
        },
    )
    with pytest.raises(PlanStale, match="title is now 'Intern'"):
        apply_run(ctx(example_mapping, ledger, server), None, plan_file=path)


def test_mass_deprovisioning_stops_unless_allowed(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    rows = staff()
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    assert apply_run(ctx(example_mapping, ledger, server), src).ok
    truncated = sources.read(write_csv(tmp_path / "hr.csv", rows[:1]), example_mapping)
    t = target(max_deprovision=5)
    with pytest.raises(MassDeprovision):
        apply_run(ctx(example_mapping, ledger, server, t=t), truncated)
    assert all(u["active"] for u in server.all("Users")), "nothing was applied"
    r = apply_run(ctx(example_mapping, ledger, server, t=t), truncated, allow_mass_deprovision=True)
    assert r.counts["deactivate"] == 7


def test_reconcile_reports_orphans_and_drift(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    rows = staff()
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    assert apply_run(ctx(example_mapping, ledger, server), src).ok
    server.http.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "backdoor@example.sa",
        },
    )
    uid = server.user("E2")["id"]
    server.http.patch(
        f"/Users/{uid}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Admin"}],
        },
    )
    report, _ = reconcile(ctx(example_mapping, ledger, server), src)
    assert [o["user_name"] for o in report.orphans] == ["backdoor@example.sa"]
    assert report.attribute_drift[0]["diff"] == {"title": ["Admin", "Engineer"]}
    stored = [e.payload for e in ledger.entries(kind="reconcile.report")]
    assert stored[0]["counts"] == {"orphans": 1, "attribute_drift": 1, "membership_drift": 0}
    writes = [
        e.payload
        for e in ledger.entries(kind="scim.exchange")
        if e.payload["request"]["method"] != "GET" and e.run_id == _.run_id
    ]
    assert writes == [], "reconcile never writes"


def test_quotes_and_backslashes_in_employee_ids_cannot_break_the_filter(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    assert escape_filter('a"b\\c') == '"a\\"b\\\\c"'
    rows = [
        person('E"1\\x', "Quote", "Person", "Engineering", "Engineer"),
        person("E2", "Other", "Person", "Engineering", "Engineer"),
    ]
    src = sources.read(write_csv(tmp_path / "hr.csv", rows), example_mapping)
    assert apply_run(ctx(example_mapping, ledger, server), src).ok
    rc = ctx(example_mapping, ledger, server)
    one = apply_run(rc, src, only=['E"1\\x'])
    assert one.ok, one.failures
    assert sum(one.counts.values()) == 0
    assert len(server.users_by_ext()['E"1\\x']) == 1


def test_single_person_apply_prints_a_step_trace(
    example_mapping, ledger, server: Server, tmp_path: Path
) -> None:
    src = sources.read(write_csv(tmp_path / "hr.csv", staff()), example_mapping)
    r = apply_run(ctx(example_mapping, ledger, server), src, only=["E3"])
    assert r.ok
    assert [u["externalId"] for u in server.all("Users")] == ["E3"]
    assert r.trace[:3] == [
        "source: E3 found (Active)",
        "scope: active — HR status Active",
        "match: externalId E3 → no account yet",
    ]
    assert "plan: create" in r.trace
    assert any(line.startswith("create E3: created as") for line in r.trace)


def test_webhook_accepts_signed_events_and_refuses_unsigned_and_replayed(
    example_mapping, ledger, server: Server
) -> None:
    t = target()
    applied: list[str] = []

    def apply(ev: dict) -> None:
        rc_events.append(ev)
        r = apply_event(ev, t, example_mapping, ledger, transport=server.transport(), today=TODAY)
        applied.append(r.run_id)

    rc_events: list[dict] = []
    receiver = Receiver(ledger, Secret("hook-secret"), apply)
    srv = make_server(receiver, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/events"
    event = {
        "event_id": "evt-1",
        "type": "hire",
        "employee_id": "E77",
        "record": person(
            "E77", "هند", "السبيعي", "IT Security", "Engineer", email="h.alsubaie@example.sa"
        ),
    }
    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    good = {"X-Scimtrail-Timestamp": ts, "X-Scimtrail-Signature": sign("hook-secret", ts, body)}
    try:
        assert httpx.post(url, content=body).status_code == 401
        bad = good | {"X-Scimtrail-Signature": sign("wrong", ts, body)}
        assert httpx.post(url, content=body, headers=bad).status_code == 401
        r = httpx.post(url, content=body, headers=good)
        assert r.status_code == 202
        assert httpx.post(url, content=body, headers=good).status_code == 409
        receiver.queue.join()
    finally:
        srv.shutdown()
        srv.server_close()
        receiver.close()
    assert server.user("E77")["displayName"] == "هند السبيعي"
    events = [e.payload for e in ledger.entries(kind="hr.event")]
    assert [(e["signature_ok"], e["accepted"]) for e in events] == [
        (False, False),
        (False, False),
        (True, True),
        (True, False),
    ]
    assert events[2]["event_id"] == "evt-1"
    started = [e.payload for e in ledger.entries(kind="run.started")]
    assert started[-1]["mode"] == "serve"
