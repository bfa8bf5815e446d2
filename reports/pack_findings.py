"""Exceptions for the pack: each deviation with cause, impact, owner and status; the
config changes of the period and the HR / ledger / target reconciliation they draw on.

Sources: SLA breaches and open failed operations and untested config versions from
:func:`reports.metrics.compute_metrics`; rejected HR rows and reconciliation
differences from the pack's own scan. A management response is a ``note`` entry
whose payload names the ``exception_id`` (and optionally ``owner``, ``status``,
``cause``, ``action``, ``due``); the latest one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.metrics import Metrics
from reports.pack import Scan


@dataclass(frozen=True, slots=True)
class Change:
    sha: str
    author: str
    authored_at: str
    committed_at: str
    message: str
    files: tuple[str, ...]
    seq: int
    tests: tuple[str, ...]  # "suite: passed/failed at ts (seq N)"
    first_pass: str  # ts of the first passing test run of this commit, or ""
    first_use: str  # ts of the first provisioning run with this config, or ""
    flag: str  # why the change is an exception, or ""


def changes(s: Scan, config_status: Mapping[str, tuple[str, str]]) -> list[Change]:
    """Every config change in the period with the test runs of that commit and its first
    use; ``config_status`` maps a commit to (status, reason) from the metrics' config
    versions, and anything but "tested" is flagged."""
    tests_by_commit: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for seq, ts, p in s.tests:
        tests_by_commit.setdefault(str(p.get("commit", "")), []).append((seq, ts, p))
    first_use: dict[str, str] = {}
    for _seq, ts, _run, p in s.runs_started:
        mapping = p.get("mapping") if isinstance(p.get("mapping"), dict) else {}
        sha = str((mapping or {}).get("git_commit") or "")
        if sha and sha not in first_use and p.get("mode") != "plan":
            first_use[sha] = ts
    out = []
    for seq, p in s.commits:
        sha = str(p.get("sha", ""))
        runs = tests_by_commit.get(sha, [])
        passes = [ts for _s, ts, t in runs if t.get("passed") is True]
        status = config_status.get(sha)
        out.append(
            Change(
                sha=sha,
                author=str(p.get("author", "")),
                authored_at=str(p.get("authored_at", "")),
                committed_at=str(p.get("committed_at", "")),
                message=str(p.get("message", "")).splitlines()[0][:100] if p.get("message") else "",
                files=tuple(str(f) for f in p.get("files") or []),
                seq=seq,
                tests=tuple(
                    f"{t.get('suite', '?')}: {'passed' if t.get('passed') else 'FAILED'} "
                    f"{ts[:16]} (seq {ts_seq})"
                    for ts_seq, ts, t in runs
                ),
                first_pass=min(passes) if passes else "",
                first_use=first_use.get(sha, ""),
                flag=status[1] if status is not None and status[0] != "tested" else "",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Reconciliation:
    hr_terminated: int
    deactivated: int
    inactive_in_target: int
    target_source: str
    terminated_not_deactivated: tuple[str, ...]
    deactivated_without_hr: tuple[str, ...]
    terminated_still_active: tuple[str, ...]
    rehired: tuple[str, ...] = ()

    @property
    def differences(self) -> int:
        return (
            len(self.terminated_not_deactivated)
            + len(self.deactivated_without_hr)
            + len(self.terminated_still_active)
        )


def reconcile(s: Scan) -> Reconciliation:
    """HR terminations vs ledger deactivations vs accounts inactive in the target."""
    hr = set(s.hr_terminations)
    deact = {str(r[4]) for r in s.events["leavers"] if r[4]}
    inactive = set()
    from_readback = 0
    for ext in hr | deact:
        if ext in s.readback:
            from_readback += 1
            if not s.readback[ext][0]:
                inactive.add(ext)
        elif ext not in s.state or not s.state[ext][0]:
            inactive.add(ext)
    total = len(hr | deact)
    source = (
        f"target read-back (SCIM GET) for {from_readback} of {total} accounts; for the others "
        "the state returned by the target in its last successful write response"
    )
    return Reconciliation(
        hr_terminated=len(hr),
        deactivated=len(deact),
        inactive_in_target=len(inactive),
        target_source=source,
        terminated_not_deactivated=tuple(sorted(hr - deact)),
        deactivated_without_hr=tuple(sorted(deact - hr)) if hr else (),
        terminated_still_active=tuple(sorted(hr - inactive - set(s.rehired))),
        rehired=tuple(sorted(s.rehired)),
    )


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    area: str
    description: str
    cause: str
    impact: str
    owner: str
    status: str
    seq: int | None

    def row(self) -> tuple[Any, ...]:
        return (self.id, self.area, self.description, self.cause, self.impact, self.owner,
                self.status, self.seq or "")  # fmt: skip


COLUMNS = ("id", "area", "description", "cause", "impact", "owner", "status", "seq")

_Raw = tuple[str, str, str, str, str, "int | None"]


def _sla(m: Metrics) -> list[_Raw]:
    out: list[_Raw] = []
    for lv in m.breaches:
        who = lv.external_id or lv.employee_id or "?"
        if lv.status == "no HR date":
            desc = f"{who}: deactivation without an HR effective date; timeliness unknown"
            impact = "the SLA cannot be shown to be met for this leaver"
        elif lv.status == "not deactivated":
            desc = (
                f"{who}: terminated effective {lv.effective_date}, not deactivated by period "
                f"end ({lv.lag_business_days} business days, SLA {m.sla.business_days})"
            )
            impact = "the account may still be usable after termination"
        else:
            desc = (
                f"{who}: deactivated {lv.lag_business_days} business day(s) after the HR "
                f"effective date {lv.effective_date} (SLA {m.sla.business_days})"
            )
            impact = f"access stayed enabled {lv.lag_hours} h after the start of that day"
        out.append((f"EX-SLA-{lv.seq or who}", "Leavers", desc, "not recorded in the ledger",
                    impact, lv.seq))  # fmt: skip
    return out


def findings(s: Scan, m: Metrics, recon: Reconciliation, *, owner: str) -> list[Finding]:
    """Every exception of the period, with the management response when one is recorded."""
    responses: dict[str, dict[str, Any]] = {}
    for seq, p in s.notes:
        ex = p.get("exception_id")
        if isinstance(ex, str):
            responses[ex] = {**p, "seq": seq}
    raw = _sla(m)
    for f in m.failed_operations:
        if f.resolution == "open":
            raw.append((f"EX-OP-{f.seq}", "Provisioning operations",
                        f"{f.operation} of {f.external_id or '?'} failed and was neither retried "
                        "successfully nor compensated", f.error or "no error recorded",
                        "the target may not match HR for this account", f.seq))  # fmt: skip
    for cv in m.untested_changes:
        raw.append((f"EX-CFG-{(cv.commit or 'dirty')[:10]}-{cv.first_run_seq}",
                    "Change management", f"config {(cv.commit or 'uncommitted')[:10]}: "
                    f"{cv.status}", cv.reason, "provisioning ran with untested logic or mapping",
                    cv.first_run_seq))  # fmt: skip
    for seq, _ts, p in s.rejected:
        raw.append((f"EX-HR-{seq}", "HR source",
                    f"row {p.get('row', '?')} of {p.get('file', '?')} rejected "
                    f"(field {p.get('field', '?')})", str(p.get("reason", "")),
                    "that employee's change was not provisioned until the row is corrected",
                    seq))  # fmt: skip
    for ext in recon.terminated_still_active:
        raw.append((f"EX-ACT-{ext}", "Reconciliation",
                    f"{ext}: terminated in HR but active in the target at period end",
                    "not recorded", "the account is usable after termination",
                    s.hr_terminations.get(ext)))  # fmt: skip
    for o in m.orphans:
        raw.append((f"EX-ORPH-{o.scim_id or o.user_name}", "Reconciliation",
                    f"account {o.user_name or o.scim_id} in the target has no HR record",
                    o.reason or "not recorded", "an account exists outside the JML process",
                    o.reconcile_seq))  # fmt: skip
    out = []
    for ex_id, area, desc, cause, impact, at in raw:
        resp = responses.get(ex_id)
        f_owner, status = owner, "open: no management response recorded"
        if resp is not None:
            f_owner = str(resp.get("owner") or owner)
            status = f"{resp.get('status', 'responded')} (note seq {resp['seq']})"
            if resp.get("action"):
                status += f": {resp['action']}"
            if resp.get("due"):
                status += f", due {resp['due']}"
            cause = str(resp.get("cause") or cause)
        out.append(Finding(ex_id, area, desc, cause, impact, f_owner, status, at))
    return out


__all__ = ["COLUMNS", "Change", "Finding", "Reconciliation", "changes", "findings", "reconcile"]
