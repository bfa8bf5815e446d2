"""Joiners, movers, leavers and rehires against the real scim2-server, on both databases."""

from __future__ import annotations

from pathlib import Path

from evidence.ledger import Ledger
from tests.provisioner.conftest import Server, body, exchanges, person, writes


def staff() -> list[dict[str, str]]:
    return [
        person("E1", "محمد", "العتيبي", "Executive", "CEO", email="m.alotaibi@example.sa"),
        person("E2", "Sarah", "Mitchell", "Engineering", "Engineer", manager_id="E1"),
        person(
            "E3",
            "نورة",
            "الشهري",
            "Finance",
            "Accountant",
            email="n.alshehri@example.sa",
            manager_id="E1",
        ),
        person("E4", "Omar", "Haddad", "Engineering", "Engineer", manager_id="E2"),
    ]


def test_full_lifecycle_converges_and_is_idempotent(run_apply, server: Server, db_url: str) -> None:
    Ledger.init(db_url)
    rows = staff()
    first = run_apply(rows, db=db_url)
    assert first.ok, first.failures
    assert first.counts["create"] == 4
    users = server.users_by_ext()
    assert all(len(users[e]) == 1 for e in ("E1", "E2", "E3", "E4"))
    e2 = server.user("E2")
    ent = e2["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert ent["manager"]["value"] == server.user("E1")["id"], "manager resolved to a SCIM id"
    assert ent["department"] == "Engineering"
    assert server.user("E1")["name"]["givenName"] == "محمد"
    assert server.groups_of("E2") == {"dept:engineering", "role:engineer"}

    again = run_apply(rows, db=db_url)
    assert again.ok
    assert sum(again.counts.values()) == 0
    assert writes(db_url, again.run_id) == [], "a second run changes nothing"

    # mover: department change → attribute update and group move
    rows[1] = rows[1] | {"department": "IT Security"}
    moved = run_apply(rows, db=db_url)
    assert moved.ok, moved.failures
    assert moved.counts["update"] == 1
    assert moved.counts["membership_remove"] == 1
    assert moved.counts["membership_add"] == 1
    ent = server.user("E2")["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert ent["department"] == "IT Security"
    assert server.groups_of("E2") == {"dept:it-security", "role:engineer"}

    # leaver: deactivated, removed from groups, effective date in the evidence
    rows[2] = rows[2] | {"status": "Terminated", "termination_date": "2026-11-30"}
    left = run_apply(rows, db=db_url)
    assert left.ok, left.failures
    assert server.user("E3")["active"] is False
    assert server.groups_of("E3") == set()
    deact = [x for x in writes(db_url, left.run_id) if x["operation"] == "deactivate"]
    assert len(deact) == 1
    assert deact[0]["outcome"] == "ok"
    assert deact[0]["hr"] == {"status": "Terminated", "effective_date": "2026-11-30"}
    assert body(deact[0])["Operations"] == [{"op": "replace", "path": "active", "value": False}]

    # rehire: the same account comes back, no duplicate
    old_id = server.user("E3")["id"]
    rows[2] = rows[2] | {"status": "Active", "termination_date": ""}
    back = run_apply(rows, db=db_url)
    assert back.ok, back.failures
    assert back.counts["reactivate"] == 1
    assert back.counts["create"] == 0
    assert server.user("E3")["id"] == old_id
    assert server.user("E3")["active"] is True
    assert server.groups_of("E3") == {"dept:finance", "role:accountant"}

    final = run_apply(rows, db=db_url)
    assert final.ok
    assert writes(db_url, final.run_id) == []
    with Ledger.open(db_url) as ledger:
        assert ledger.verify().size > 0
        kinds = {e.kind for e in ledger.entries()}
    assert {"run.started", "plan.recorded", "scim.exchange", "run.finished"} <= kinds


def test_future_termination_keeps_the_account_until_the_date(run_apply, server: Server) -> None:
    rows = staff()
    rows[3] = rows[3] | {"status": "Terminated", "termination_date": "2026-12-31"}
    r = run_apply(rows)
    assert r.ok
    assert server.user("E4")["active"] is True


def test_people_missing_from_hr_are_deactivated(run_apply, server: Server, tmp_path: Path) -> None:
    rows = staff()
    assert run_apply(rows).ok
    r = run_apply(rows[:3])
    assert r.counts["deactivate"] == 1
    assert server.user("E4")["active"] is False
    deact = [c for c in r.plan.changes if c.op == "deactivate"]
    assert deact[0].reason == "not in the HR source"


def test_example_files_provision_cleanly(run_apply, server: Server) -> None:
    from tests.provisioner.conftest import EXAMPLE_HR

    r = run_apply(EXAMPLE_HR)
    assert r.ok, r.failures
    users = server.users_by_ext()
    assert "E1012" not in users, "terminated before the first sync: no account"
    assert "E1010" not in users, "on leave before the first sync: no account"
    assert server.user("E1001")["displayName"] == "محمد العتيبي"


def test_incremental_runs_read_only_changed_people_and_plan_like_full_runs(
    run_apply, server: Server, tmp_path: Path
) -> None:
    rows = staff()
    assert run_apply(rows).ok
    rows[1] = rows[1] | {"department": "IT Security"}
    rows[2] = rows[2] | {"status": "Terminated", "termination_date": "2026-11-30"}
    rows.append(person("E5", "Grace", "Kim", "Finance", "Accountant", manager_id="E3"))
    full = run_apply(rows, plan_only=True, full=True)
    inc = run_apply(rows, plan_only=True)
    assert inc.plan.target["read"] == "3 people"
    assert full.plan.target["read"] == "full"
    assert [c.summary() for c in inc.plan.changes] == [c.summary() for c in full.plan.changes]
    applied = run_apply(rows)
    assert applied.ok, applied.failures
    xs = [x for x in exchanges(str(tmp_path / "ledger.db"), applied.run_id)]
    user_reads = [
        x for x in xs if x["request"]["method"] == "GET" and "/Users" in x["request"]["url"]
    ]
    assert len(user_reads) == 1 + 3 + 1, "a count probe, a lookup per changed person, their manager"
    assert server.user("E3")["active"] is False
    assert server.groups_of("E2") == {"dept:it-security", "role:engineer"}
