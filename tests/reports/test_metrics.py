"""Metrics over ledgers with known answers."""

from __future__ import annotations

from reports.metrics import Sla, compute_metrics
from reports.periods import parse_period
from tests.reports.seeding import Seeder, seed_quarter

Q3 = parse_period("2026-Q3")
RIYADH = Sla(1, "Asia/Riyadh", ("fri", "sat"))


def test_joiners_movers_and_leavers_are_counted(seeder: Seeder) -> None:
    seed_quarter(seeder)
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert (m.joiners, m.movers, m.leavers) == (2, 1, 2)
    assert m.membership_changes == 1


def test_a_leaver_deprovisioned_late_is_a_breach_with_its_lag(seeder: Seeder) -> None:
    seed_quarter(seeder)
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [(b.external_id, b.lag_business_days) for b in m.breaches] == [("u5", 6)]
    assert m.lag.max_business_days == 6
    assert m.lag.p50_business_days == 3.5
    assert m.lag.within_sla == 1
    assert m.lag.within_sla_pct == 50.0
    assert (m.lag.histogram["1"], m.lag.histogram[">5"]) == (1, 1)


def test_the_weekend_changes_the_business_day_lag(seeder: Seeder) -> None:
    """Friday 18 Sep → Monday 21 Sep: 2 business days in Riyadh (Sun, Mon), 1 in London."""
    seeder.at("2026-09-21T08:00:00").run("r7", "c7" * 20)
    seeder.exchange("r7", "deactivate", "u7", effective="2026-09-18")
    riyadh = compute_metrics(seeder.ledger, Q3, RIYADH)
    london = compute_metrics(seeder.ledger, Q3, Sla(1, "Europe/London", ("sat", "sun")))
    assert [(r.lag_business_days, r.breach) for r in riyadh.leaver_rows] == [(2, True)]
    assert [(r.lag_business_days, r.breach) for r in london.leaver_rows] == [(1, False)]


def test_a_termination_never_deactivated_is_a_breach_once_the_sla_elapsed(seeder: Seeder) -> None:
    seeder.at("2026-09-01T08:00:00").run("r9", "c9" * 20)
    seeder.exchange("r9", "deactivate", "u7", outcome="failed", effective="2026-08-31")
    seeder.exchange("r9", "deactivate", "u8", outcome="failed", effective="2026-09-30")
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    rows = {r.external_id: r for r in m.leaver_rows}
    assert (rows["u7"].status, rows["u7"].breach) == ("not deactivated", True)
    assert (rows["u8"].status, rows["u8"].breach) == ("pending", False)
    assert m.leavers == 0


def test_failed_operations_show_how_they_were_resolved(seeder: Seeder) -> None:
    seed_quarter(seeder)
    seeder.at("2026-09-21T08:00:00").run("r3", "c1" * 20)
    seeder.exchange("r3", "create", "u9", outcome="failed")
    seeder.add(
        "compensation",
        {
            "run_id": "r3",
            "policy": "quarantine",
            "reason": "batch failed",
            "actions": [
                {"operation": "create", "external_id": "u9", "scim_id": "s9", "outcome": "ok"}
            ],
        },
        run_id="r3",
    )
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    res = {(f.operation, f.external_id): f.resolution for f in m.failed_operations}
    assert res == {
        ("create", "u2"): "retried",
        ("update", "u6"): "open",
        ("create", "u9"): "compensated",
    }


def test_orphans_come_from_the_latest_reconcile(seeder: Seeder) -> None:
    seed_quarter(seeder)
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [o.user_name for o in m.orphans] == ["old.admin"]
    seeder.at("2026-09-25T08:00:00").add("reconcile.report", {"target": "app", "orphans": []})
    assert compute_metrics(seeder.ledger, Q3, RIYADH).orphans == ()


def test_untested_and_uncommitted_config_versions_are_listed(seeder: Seeder) -> None:
    seed_quarter(seeder)
    seeder.at("2026-09-22T08:00:00").run("r4", None, dirty=True)
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [(c.commit, c.status) for c in m.untested_changes] == [
        ("c2" * 20, "tested after first use"),
        (None, "uncommitted"),
    ]
    assert m.summary()["untested_config_changes"] == 2


def test_entries_outside_the_period_are_ignored(seeder: Seeder) -> None:
    seed_quarter(seeder)
    m = compute_metrics(seeder.ledger, parse_period("2026-Q4"), RIYADH)
    assert (m.joiners, m.leavers, len(m.breaches), m.exchanges) == (0, 0, 0, 0)
    assert [o.user_name for o in m.orphans] == ["old.admin"]  # latest reconcile as of period end


def test_compensating_deactivations_are_not_leavers(seeder: Seeder) -> None:
    """A batch failed; the created account was quarantined (active:false) by compensation."""
    seeder.at("2026-07-02T08:00:00").run("r5", "c5" * 20)
    seeder.exchange("r5", "create", "u10")
    seeder.exchange("r5", "create", "u11", outcome="failed")
    seeder.exchange("r5", "deactivate", "u10")
    seeder.add(
        "compensation",
        {
            "run_id": "r5",
            "policy": "quarantine",
            "reason": "batch failed",
            "actions": [
                {"operation": "deactivate", "external_id": "u10", "scim_id": "s10", "outcome": "ok"}
            ],
        },
        run_id="r5",
    )
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert (m.joiners, m.leavers, len(m.breaches)) == (1, 0, 0)
    assert [(f.external_id, f.resolution) for f in m.failed_operations] == [("u11", "open")]


def test_a_test_run_on_a_dirty_tree_does_not_test_the_commit(seeder: Seeder) -> None:
    c = "c8" * 20
    seeder.at("2026-07-01T08:00:00").test_run(c, dirty=True)
    seeder.at("2026-07-02T08:00:00").run("r8", c)
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [(v.commit, v.status) for v in m.untested_changes] == [(c, "untested")]
    seeder.at("2026-07-01T09:00:00").test_run(c)  # clean, but after first use
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [v.status for v in m.config_versions] == ["tested after first use"]


def test_hr_termination_events_count_only_when_accepted(seeder: Seeder) -> None:
    event = {"event_id": "ev1", "type": "terminate", "employee_id": "u20",
             "record": {"effective_date": "2026-08-03"}, "received_at": "2026-08-03T08:00:00Z",
             "signature_ok": True}  # fmt: skip
    seeder.at("2026-08-03T08:00:00").add("hr.event", event)
    seeder.add("hr.event", event | {"employee_id": "u21", "signature_ok": False, "accepted": False})
    m = compute_metrics(seeder.ledger, Q3, RIYADH)
    assert [(r.external_id, r.status, r.breach) for r in m.leaver_rows] == [
        ("u20", "not deactivated", True)
    ]
