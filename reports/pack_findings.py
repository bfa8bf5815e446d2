"""Exceptions for the pack: each deviation with cause, impact, owner and status.

Sources: SLA breaches and open failed operations and untested config versions from
:func:`reports.metrics.compute_metrics`; rejected HR rows and reconciliation
differences from the pack's own scan. A management response is a ``note`` entry
whose payload names the ``exception_id`` (and optionally ``owner``, ``status``,
``cause``, ``action``, ``due``); the latest one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.metrics import Metrics
from reports.pack import Reconciliation, Scan


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


__all__ = ["COLUMNS", "Finding", "findings"]
