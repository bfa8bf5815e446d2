"""Faults a real server will not produce on demand, injected in front of scim2-server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from provisioner.errors import CircuitOpen
from tests.provisioner.conftest import Server, exchanges, person, target
from tests.provisioner.faults import FakeClock, Faulty


def rows() -> list[dict[str, str]]:
    return [
        person("E1", "Sarah", "Mitchell", "Engineering", "Engineer"),
        person("E2", "خالد", "الدوسري", "Engineering", "Engineer", email="k.aldosari@example.sa"),
        person("E3", "Omar", "Haddad", "Finance", "Accountant"),
    ]


def no_duplicates(server: Server) -> None:
    for ext, found in server.users_by_ext().items():
        assert len(found) == 1, f"{ext} has {len(found)} accounts"


def test_429_storm_honours_retry_after_and_pauses_the_target(
    run_apply, server: Server, tmp_path: Path
) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="POST", path="/Users", times=4, status=429, headers={"Retry-After": "7"})
    clock = FakeClock()
    r = run_apply(rows(), transport=faulty.transport(), clock=clock, t=target(concurrency=1))
    assert r.ok, r.failures
    assert sum(1 for s in clock.sleeps if s == 7) == 4, "each 429 paused the target 7 s"
    no_duplicates(server)
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    throttled = [x for x in xs if x["response"].get("status") == 429]
    assert len(throttled) == 4
    assert all(x["outcome"] == "retry" for x in throttled)
    assert {x["attempt"] for x in throttled} >= {1, 2}
    assert r.retries >= 4


def test_a_429_storm_longer_than_max_attempts_is_waited_out(
    run_apply, server: Server, tmp_path: Path
) -> None:
    """429s do not use up max_attempts (which is for errors); the throttle budget bounds them."""
    faulty = Faulty(server.transport())
    faulty.add(method="GET", path="/Users", times=9, status=429, headers={"Retry-After": "3"})
    clock = FakeClock()
    t = target(concurrency=1, max_attempts=3)
    r = run_apply(rows(), transport=faulty.transport(), clock=clock, t=t)
    assert r.ok, r.failures
    assert sum(1 for s in clock.sleeps if s == 3) == 9
    no_duplicates(server)
    assert set(server.users_by_ext()) == {"E1", "E2", "E3"}
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    assert max(x["attempt"] for x in xs if x["response"].get("status") == 429) >= 4


def test_throttling_past_the_budget_fails_with_the_reason(
    run_apply, server: Server, tmp_path: Path
) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="POST", path="/Users", times=1000, status=429, headers={"Retry-After": "0"})
    clock = FakeClock()
    t = target(concurrency=1, throttle_budget_s=5)
    r = run_apply(rows(), transport=faulty.transport(), clock=clock, t=t)
    assert not r.ok
    assert any("still throttled (429)" in str(f) for f in r.failures), r.failures
    assert any("throttle_budget_s" in str(f) for f in r.failures)
    # "Retry-After: 0" is waited out as 1 s, so the budget ends the storm
    assert clock.sleeps.count(1.0) >= 5
    assert server.users_by_ext() == {}


def test_retry_after_as_http_date_is_capped(run_apply, server: Server) -> None:
    faulty = Faulty(server.transport())
    faulty.add(
        method="POST",
        path="/Groups",
        status=429,
        headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"},
    )
    clock = FakeClock()
    r = run_apply(rows(), transport=faulty.transport(), clock=clock, t=target(retry_after_max_s=60))
    assert r.ok, r.failures
    assert max(clock.sleeps) == 60


def test_5xx_bursts_and_html_bodies_are_retried(run_apply, server: Server, tmp_path: Path) -> None:
    faulty = Faulty(server.transport())
    html = b"<html><body>502 Bad Gateway</body></html>"
    faulty.add(method="PATCH", path="/Groups", times=2, status=503)
    faulty.add(
        method="GET",
        path="/Users",
        times=1,
        status=502,
        body=html,
        headers={"Content-Type": "text/html"},
    )
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock())
    assert r.ok, r.failures
    assert server.groups_of("E1") == {"dept:engineering", "role:engineer"}
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    bad = [x for x in xs if x["response"].get("status") == 502]
    assert bad[0]["response"]["body_text"].startswith("<html>")


def test_a_truncated_list_is_never_taken_for_an_empty_target(run_apply, server: Server) -> None:
    assert run_apply(rows()).ok
    faulty = Faulty(server.transport())
    faulty.add(
        method="GET",
        path="/Users",
        times=2,
        status=200,
        body=b'{"Resources": [{"id',
        headers={"Content-Type": "application/scim+json"},
    )
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock())
    assert r.ok, r.failures
    assert r.counts["create"] == 0
    no_duplicates(server)


def test_timeouts_on_idempotent_requests_are_retried(run_apply, server: Server) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="PATCH", path="/Groups", times=2, raise_=httpx.ReadTimeout, after=True)
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock())
    assert r.ok, r.failures
    assert server.groups_of("E2") == {"dept:engineering", "role:engineer"}


def test_a_post_that_landed_before_the_reset_is_not_sent_again(
    run_apply, server: Server, tmp_path: Path
) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="POST", path="/Users", times=1, raise_=httpx.RemoteProtocolError, after=True)
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock(), t=target(concurrency=1))
    assert r.ok, r.failures
    no_duplicates(server)
    posts = [f for f in faulty.log if f[0] == "POST" and "/Users" in f[1]]
    assert len(posts) == 3, "three people, three POSTs: the lost answer was found by lookup"
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    assert any(x["operation"] == "lookup" for x in xs)


def test_a_post_that_did_not_land_is_sent_again_after_a_lookup(run_apply, server: Server) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="POST", path="/Users", times=1, raise_=httpx.ConnectError)
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock(), t=target(concurrency=1))
    assert r.ok, r.failures
    no_duplicates(server)
    assert len(server.users_by_ext()) == 3


def test_409_on_create_adopts_the_existing_account_once(run_apply, server: Server) -> None:
    existing = server.http.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "sarah.mitchell@example.sa",
        },
    ).json()
    r = run_apply(rows(), clock=FakeClock())
    assert r.ok, r.failures
    assert server.user("E1")["id"] == existing["id"], "adopted, not duplicated"
    assert server.user("E1")["title"] == "Engineer"
    no_duplicates(server)


def test_409_for_an_account_of_another_person_fails_without_looping(
    run_apply, server: Server
) -> None:
    server.http.post(
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "sarah.mitchell@example.sa",
            "externalId": "SOMEONE-ELSE",
        },
    )
    r = run_apply(rows(), clock=FakeClock())
    assert not r.ok
    assert any(f.external_id == "E1" and "409" in f.error for f in r.failures)
    assert r.exit_code == 1


def test_412_on_update_rereads_and_applies_once(run_apply, server: Server, tmp_path: Path) -> None:
    assert run_apply(rows()).ok
    changed = rows()
    changed[0]["job_title"] = "Staff Engineer"
    faulty = Faulty(server.transport())
    faulty.add(method="PATCH", path="/Users/", times=1, status=412)
    r = run_apply(changed, transport=faulty.transport(), clock=FakeClock())
    assert r.ok, r.failures
    assert server.user("E1")["title"] == "Staff Engineer"
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    patches = [x for x in xs if x["request"]["method"] == "PATCH" and x["operation"] == "update"]
    assert [p["response"]["status"] for p in patches] == [412, 204]
    assert patches[0]["request"]["headers"]["if-match"]


def test_repeated_401_opens_the_circuit_and_stops_the_target(run_apply, server: Server) -> None:
    faulty = Faulty(server.transport())
    faulty.add(method="POST", path="/", times=100, status=401)
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock(), t=target(concurrency=1))
    assert not r.ok
    assert any("circuit breaker" in f.error for f in r.failures)
    not_attempted = {f.external_id for f in r.failures if f.error.startswith("not attempted")}
    assert {"E1", "E2", "E3"} <= not_attempted, "every skipped person is listed by id"
    assert server.users_by_ext() == {}
    posts = [f for f in faulty.log if f[0] == "POST"]
    assert len(posts) <= 3, "stopped after the breaker's limit"


def test_a_failed_change_past_retries_is_listed_and_nothing_is_half_applied(
    run_apply, server: Server, tmp_path: Path
) -> None:
    """E3's create fails for good: quarantine deactivates what the batch created."""
    faulty = Faulty(server.transport())
    faulty.add(
        method="POST", path="/Users", times=1, status=400, body=b'{"detail": "invalid value"}'
    )
    notes = tmp_path / "notify.jsonl"
    t = target(concurrency=1, compensation="quarantine", notify_file=str(notes))
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock(), t=t)
    assert not r.ok
    assert r.compensation is not None
    assert r.compensation["policy"] == "quarantine"
    created = [u for us in server.users_by_ext().values() for u in us]
    assert created, "the other creates went through"
    assert all(u["active"] is False for u in created), "…and were quarantined"
    sent = [json.loads(line) for line in notes.read_text(encoding="utf-8").splitlines()]
    assert sent, "HR / security operations were notified"
    assert all(n["policy"] == "quarantine" for n in sent)
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    quarantined = [x for x in xs if x.get("compensation")]
    assert quarantined
    assert all(x["operation"] == "deactivate" for x in quarantined)
    assert any(a["external_id"] == "E2" for n in sent for a in n["actions"])


@pytest.mark.parametrize("policy", ["revert"])
def test_revert_undoes_the_batch_in_reverse_order(
    run_apply, server: Server, tmp_path: Path, policy: str
) -> None:
    assert run_apply(rows()).ok
    changed = rows()
    changed[0]["job_title"] = "Director"
    changed[1]["job_title"] = "Director"
    faulty = Faulty(server.transport())
    faulty.add(method="PATCH", path="/Users/", times=1, status=400)
    t = target(concurrency=1, compensation=policy)
    r = run_apply(changed, transport=faulty.transport(), clock=FakeClock(), t=t)
    assert not r.ok
    assert {server.user("E1")["title"], server.user("E2")["title"]} == {"Engineer"}
    assert r.compensation is not None
    assert all(a["outcome"] == "ok" for a in r.compensation["actions"])


def test_circuit_open_is_an_error_with_diagnostics() -> None:
    err = CircuitOpen("hr-app", "3 consecutive 401/403 answers")
    assert "runbook" in err.diagnostics()


def test_without_patch_support_updates_are_full_puts_of_the_merged_resource(
    run_apply, server: Server, tmp_path: Path
) -> None:
    assert run_apply(rows()).ok
    faulty = Faulty(server.transport())
    spc = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": False},
        "etag": {"supported": "true"},
        "bulk": {"supported": False},
        "filter": {"supported": True},
    }
    faulty.add(
        method="GET",
        path="/ServiceProviderConfig",
        times=5,
        status=200,
        body=json.dumps(spc).encode(),
        headers={"Content-Type": "text/json"},
    )
    changed = rows()
    changed[0]["job_title"] = "Principal Engineer"
    changed[2]["status"] = "On Leave"
    r = run_apply(changed, transport=faulty.transport(), full=True)
    assert r.ok, r.failures
    e1, e3 = server.user("E1"), server.user("E3")
    assert e1["title"] == "Principal Engineer"
    assert e1["emails"][0]["value"] == "sarah.mitchell@example.sa", "PUT kept the rest"
    assert e3["active"] is False
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    user_writes = [
        x
        for x in xs
        if x["request"]["method"] in ("PUT", "PATCH") and "/Users/" in x["request"]["url"]
    ]
    assert {x["request"]["method"] for x in user_writes} == {"PUT"}
    assert all("if-match" in x["request"]["headers"] for x in user_writes)


def test_the_rate_limit_spaces_requests_out() -> None:
    from provisioner.scim import ScimClient

    clock = FakeClock()

    class NoRecorder:
        def check(self) -> None: ...

    client = ScimClient(
        target(rate_limit=10.0),
        None,
        NoRecorder(),  # type: ignore[arg-type]
        transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        clock=clock,
    )
    for _ in range(5):
        client._wait_turn()
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1, 0.1])
    client.close()


def test_paging_counts_what_came_back_and_accepts_lowercase_resources(tmp_path: Path) -> None:
    """itemsPerPage lies, `resources` is lowercase, and the last page repeats the first."""
    from evidence.ledger import Ledger
    from provisioner.auth import NoCredential
    from provisioner.scim import Recorder, ScimClient

    people = [
        {"id": f"u{i}", "userName": f"u{i}@example.sa", "externalId": f"E{i}"} for i in range(7)
    ]
    starts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        starts.append(start)
        page = people[start - 1 : start - 1 + 3] or people[:3]  # ignores startIndex past the end
        return httpx.Response(200, json={"totalResults": 9, "itemsPerPage": 100, "resources": page})

    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        rec = Recorder(ledger, "tester", "run-1")
        client = ScimClient(
            target(page_size=3), NoCredential(), rec, transport=httpx.MockTransport(handler)
        )
        got = [r["id"] for r in client.iter_resources("Users")]
        client.close()
        rec.close()
    assert got == [f"u{i}" for i in range(7)]
    assert starts == [1, 4, 7, 8], "advanced by what came back; stopped on a page of repeats"


def test_an_html_error_page_echoing_a_token_is_kept_only_as_a_hash(
    run_apply, server: Server, tmp_path: Path
) -> None:
    """Key-based redaction cannot reach inside HTML, so such a body's text is withheld."""
    canary = "canary-html-7d3f0b1e9a2c"
    page = f"<html><pre>Authorization: Bearer {canary}</pre></html>".encode()
    faulty = Faulty(server.transport())
    faulty.add(
        method="GET",
        path="/Users",
        times=1,
        status=502,
        body=page,
        headers={"Content-Type": "text/html"},
    )
    r = run_apply(rows(), transport=faulty.transport(), clock=FakeClock())
    assert r.ok, r.failures
    xs = exchanges(str(tmp_path / "ledger.db"), r.run_id)
    bad = [x for x in xs if x["response"].get("status") == 502]
    assert bad[0]["response"]["body_bytes"] == len(page)
    assert "body_text" not in bad[0]["response"]
    for f in tmp_path.iterdir():
        if f.is_file():
            assert canary.encode() not in f.read_bytes(), f.name
