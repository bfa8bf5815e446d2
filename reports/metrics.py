"""Provisioning metrics for a period: joiners/movers/leavers, leaver lag, exceptions.

Definitions (``docs/evidence-kinds.md``, "Joining rules"):

* joiner — a successful ``create`` of a User (distinct ``external_id``);
* mover — a successful User ``update`` whose planned diff touches department, title,
  manager, groups (or whose diff is unknown — counted, and flagged);
* leaver — a successful ``deactivate`` (or ``delete``) of a User. Its lag runs from
  the HR effective termination date (start of that day in the SLA's time zone) to
  the ledger ``ts`` of the successful deactivation; in business days it is the
  number of business days after the effective date up to the deactivation date.
  It breaches the SLA when that exceeds ``sla.business_days``. Terminations seen in
  the period (HR events, planned deactivations, failed deactivations) with no
  successful deactivation by the period end are breaches once the SLA has elapsed;
* failed operation — an exchange with ``outcome == "failed"``; resolved by a later
  successful exchange of the same operation and ``external_id``, or by a
  compensation action for it; otherwise open at the period end;
* orphans — from the latest ``reconcile.report`` before the period end;
* config versions — the commits provisioning runs used (``run.started.mapping``);
  one is *untested* when no passing ``test.run`` on that commit precedes the first
  run that used it, or when the run used uncommitted (dirty) config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from evidence.ledger import Ledger
from reports.frames import MOVER_FIELDS, Frames, load_frames
from reports.periods import Calendar, Period

PROVISIONING_MODES = frozenset({"apply", "serve", None})


@dataclass(frozen=True, slots=True)
class Sla:
    """The deprovisioning SLA: business days after the effective date, and the calendar."""

    business_days: int = 1
    timezone: str = "UTC"
    weekend: tuple[str, ...] = ("fri", "sat")
    holidays: tuple[str, ...] = ()

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> Sla:
        return cls(
            int(params.get("sla_business_days", 1)),
            str(params.get("timezone", "UTC")),
            tuple(str(d) for d in params.get("weekend", ("fri", "sat"))),
            tuple(str(h) for h in params.get("holidays", ()) or ()),
        )

    @property
    def calendar(self) -> Calendar:
        return Calendar.from_names(self.weekend, self.holidays)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def as_dict(self) -> dict[str, Any]:
        return {
            "business_days": self.business_days,
            "timezone": self.timezone,
            "weekend": list(self.weekend),
            "holidays": list(self.holidays),
        }


@dataclass(frozen=True, slots=True)
class Leaver:
    external_id: str | None
    employee_id: str | None
    effective_date: str | None
    deactivated_at: str | None  # ledger ts of the successful deactivation
    seq: int | None  # that exchange's seq (or the termination evidence when open)
    lag_business_days: int | None
    lag_hours: float | None
    breach: bool
    status: str  # deactivated | not deactivated | pending (SLA not yet elapsed) | no HR date


@dataclass(frozen=True, slots=True)
class LagStats:
    count: int
    p50_business_days: float | None
    p95_business_days: float | None
    max_business_days: int | None
    p50_hours: float | None
    p95_hours: float | None
    max_hours: float | None
    within_sla: int
    within_sla_pct: float | None
    histogram: Mapping[str, int]  # "0", "1", "2", "3-5", ">5" business days


@dataclass(frozen=True, slots=True)
class FailedOperation:
    seq: int
    ts: str
    operation: str
    external_id: str | None
    error: str | None
    resolution: str  # retried | compensated | open
    resolved_by: int | None


@dataclass(frozen=True, slots=True)
class Orphan:
    scim_id: str | None
    user_name: str | None
    external_id: str | None
    reason: str | None
    reconcile_seq: int


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    commit: str | None
    first_used_at: str
    first_run_seq: int
    runs_in_period: int
    tested_by: int | None  # seq of the passing test.run before first use
    status: str  # tested | untested | tested after first use | uncommitted
    reason: str


@dataclass(frozen=True, slots=True)
class Metrics:
    period: Period
    sla: Sla
    joiners: int
    movers: int
    movers_diff_unknown: int
    leavers: int
    updates: int
    membership_changes: int
    exchanges: int
    lag: LagStats
    leaver_rows: tuple[Leaver, ...]
    breaches: tuple[Leaver, ...]
    failed_operations: tuple[FailedOperation, ...]
    orphans: tuple[Orphan, ...]
    orphans_as_of: int | None  # seq of the reconcile report used
    config_versions: tuple[ConfigVersion, ...]
    untested_changes: tuple[ConfigVersion, ...]
    erased_entries: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        out: dict[str, Any] = {
            "period": self.period.as_dict(),
            "sla": self.sla.as_dict(),
            "summary": self.summary(),
            "lag": asdict(self.lag),
        }
        for name in (
            "leaver_rows",
            "breaches",
            "failed_operations",
            "orphans",
            "config_versions",
            "untested_changes",
        ):
            out[name] = [asdict(x) for x in getattr(self, name)]
        out["orphans_as_of"] = self.orphans_as_of
        out["movers_diff_unknown"] = self.movers_diff_unknown
        out["updates"] = self.updates
        out["membership_changes"] = self.membership_changes
        out["exchanges"] = self.exchanges
        out["erased_entries"] = self.erased_entries
        return out

    def summary(self) -> dict[str, Any]:
        """The headline figures as a flat dict (CLI table, pack executive summary)."""
        return {
            "period": self.period.label,
            "joiners": self.joiners,
            "movers": self.movers,
            "leavers": self.leavers,
            "lag_p50_business_days": self.lag.p50_business_days,
            "lag_p95_business_days": self.lag.p95_business_days,
            "lag_max_business_days": self.lag.max_business_days,
            "lag_p50_hours": self.lag.p50_hours,
            "lag_p95_hours": self.lag.p95_hours,
            "lag_max_hours": self.lag.max_hours,
            "within_sla_pct": self.lag.within_sla_pct,
            "sla_breaches": len(self.breaches),
            "failed_operations": len(self.failed_operations),
            "failed_open": sum(1 for f in self.failed_operations if f.resolution == "open"),
            "orphans": len(self.orphans),
            "untested_config_changes": len(self.untested_changes),
        }


def compute_metrics(
    ledger: Ledger, period: Period, sla: Sla | None = None, *, frames: Frames | None = None
) -> Metrics:
    """Metrics for ``period``; pass ``frames`` to reuse one read of the ledger."""
    frames = frames if frames is not None else load_frames(ledger, period)
    return metrics_from_frames(frames, sla or Sla())


def metrics_from_frames(frames: Frames, sla: Sla) -> Metrics:
    key = f"metrics:{sla!r}"
    if key in frames.cache:
        cached: Metrics = frames.cache[key]
        return cached
    ex = frames.exchanges
    ok = ex[(ex["outcome"] == "ok") & ~ex["compensation"]]
    users = ok[ok["resource_type"].isna() | (ok["resource_type"] == "User")]
    joiners = int(users.loc[users["operation"] == "create", "external_id"].nunique())
    upd = users[users["operation"] == "update"]
    movers, unknown = _movers(upd, frames.plan_diffs)
    leaver_rows = leavers(frames, sla)
    deactivated = [r for r in leaver_rows if r.status == "deactivated"]
    result = Metrics(
        period=frames.period,
        sla=sla,
        joiners=joiners,
        movers=movers,
        movers_diff_unknown=unknown,
        leavers=len(deactivated),
        updates=len(upd),
        membership_changes=int(ok["operation"].isin(["membership_add", "membership_remove"]).sum()),
        exchanges=sum(frames.exchange_counts.values()),
        lag=_lag_stats(deactivated, sla),
        leaver_rows=tuple(leaver_rows),
        breaches=tuple(r for r in leaver_rows if r.breach),
        failed_operations=tuple(failed_operations(frames)),
        orphans=tuple(orphans(frames)),
        orphans_as_of=frames.reconciles[-1]["seq"] if frames.reconciles else None,
        config_versions=tuple(cv := config_versions(frames)),
        untested_changes=tuple(c for c in cv if c.status != "tested"),
        erased_entries=frames.erased,
    )
    frames.cache[key] = result
    return result


def _movers(
    upd: pd.DataFrame, plan_diffs: Mapping[tuple[str, str], frozenset[str]]
) -> tuple[int, int]:
    movers: set[str] = set()
    unknown: set[str] = set()
    for ext, plan in zip(upd["external_id"], upd["plan_hash"], strict=True):
        diff = plan_diffs.get((plan, ext)) if plan is not None else None
        if diff is None:
            unknown.add(ext)
            movers.add(ext)
        elif {k.rsplit(".", 1)[-1] for k in diff} & MOVER_FIELDS:
            movers.add(ext)
    return len(movers), len(unknown)


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def leavers(frames: Frames, sla: Sla) -> list[Leaver]:
    """Every leaver of the period: deactivated ones with lag, and open terminations."""
    cached = frames.cache.get(f"leavers:{sla!r}")
    if cached is not None:
        return list(cached)
    ex = frames.exchanges
    deact = ex[ex["operation"].isin(["deactivate", "delete"]) & ~ex["compensation"]]
    deact = deact[deact["resource_type"].isna() | (deact["resource_type"] == "User")]
    ok = deact[deact["outcome"] == "ok"].drop_duplicates("external_id", keep="first")
    term_dates: dict[str, str] = {}
    for ext, eff in zip(
        frames.terminations["external_id"], frames.terminations["effective_date"], strict=True
    ):
        if ext is not None and eff:
            term_dates.setdefault(ext, eff)
    for ext, eff in zip(deact["external_id"], deact["effective_date"], strict=True):
        if ext is not None and isinstance(eff, str) and eff:
            term_dates.setdefault(ext, eff)
    zone = sla.zone()
    cal = sla.calendar
    out: list[Leaver] = []
    done: set[str] = set()
    for seq, ts, ext, emp, eff in zip(
        ok["seq"], ok["ts"], ok["external_id"], ok["employee_id"], ok["effective_date"], strict=True
    ):
        done.add(ext)
        eff = eff if isinstance(eff, str) and eff else term_dates.get(ext)
        d = _day(eff)
        if d is None:
            out.append(Leaver(ext, emp, None, ts, int(seq), None, None, True, "no HR date"))
            continue
        at = _ts(ts)
        local = at.astimezone(zone)
        start = datetime(d.year, d.month, d.day, tzinfo=zone)
        bd = cal.business_days_after(d, local.date())
        hours = round(max(0.0, (at - start.astimezone(UTC)).total_seconds() / 3600), 2)
        out.append(
            Leaver(ext, emp, eff, ts, int(seq), bd, hours, bd > sla.business_days, "deactivated")
        )
    # terminations with no successful deactivation in the period
    end = frames.period.end
    pending: dict[str, tuple[int, str | None, str | None]] = {}
    for src in (frames.terminations, deact[deact["outcome"] != "ok"]):
        for seq, ext, emp in zip(src["seq"], src["external_id"], src["employee_id"], strict=True):
            if ext is not None and ext not in done and ext not in pending:
                pending[ext] = (int(seq), emp, term_dates.get(ext))
    for ext, (seq, emp, eff) in sorted(pending.items(), key=lambda kv: kv[1][0]):
        d = _day(eff)
        if d is None:
            out.append(Leaver(ext, emp, None, None, seq, None, None, True, "no HR date"))
            continue
        bd = cal.business_days_after(d, end)
        breach = bd > sla.business_days
        out.append(
            Leaver(
                ext,
                emp,
                eff,
                None,
                seq,
                bd if breach else None,
                None,
                breach,
                "not deactivated" if breach else "pending",
            )
        )
    frames.cache[f"leavers:{sla!r}"] = tuple(out)
    return out


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=float), q, method="linear")), 2)


def _lag_stats(rows: list[Leaver], sla: Sla) -> LagStats:
    bds = [r.lag_business_days for r in rows if r.lag_business_days is not None]
    hours = [r.lag_hours for r in rows if r.lag_hours is not None]
    within = sum(1 for b in bds if b <= sla.business_days)
    hist = {"0": 0, "1": 0, "2": 0, "3-5": 0, ">5": 0}
    for b in bds:
        hist[
            "0" if b == 0 else "1" if b == 1 else "2" if b == 2 else "3-5" if b <= 5 else ">5"
        ] += 1
    return LagStats(
        count=len(bds),
        p50_business_days=_pct([float(b) for b in bds], 50),
        p95_business_days=_pct([float(b) for b in bds], 95),
        max_business_days=max(bds) if bds else None,
        p50_hours=_pct(hours, 50),
        p95_hours=_pct(hours, 95),
        max_hours=max(hours) if hours else None,
        within_sla=within,
        within_sla_pct=round(100.0 * within / len(bds), 2) if bds else None,
        histogram=hist,
    )


def failed_operations(frames: Frames) -> list[FailedOperation]:
    cached = frames.cache.get("failed_operations")
    if cached is not None:
        return list(cached)
    ex = frames.exchanges
    failed = ex[ex["outcome"] == "failed"]
    if failed.empty:
        frames.cache["failed_operations"] = ()
        return []
    ok = ex[(ex["outcome"] == "ok") & ex["external_id"].isin(set(failed["external_id"]))]
    later_ok: dict[tuple[str, str], list[int]] = {}
    for op, ext, seq in zip(
        ok["operation"].astype(str).tolist(),
        ok["external_id"].tolist(),
        ok["seq"].tolist(),
        strict=True,
    ):
        later_ok.setdefault((op, ext), []).append(int(seq))
    comp: dict[tuple[str, str], int] = {}
    for c in frames.compensations:
        for a in c["actions"]:
            if isinstance(a, dict):
                comp.setdefault((str(a.get("operation")), str(a.get("external_id"))), c["seq"])
                comp.setdefault(("*", str(a.get("external_id"))), c["seq"])
    out = []
    for seq, ts, op, ext, err in zip(
        failed["seq"].tolist(),
        failed["ts"].tolist(),
        failed["operation"].astype(str).tolist(),
        failed["external_id"].tolist(),
        failed["error"].tolist(),
        strict=True,
    ):
        retry = next((s for s in later_ok.get((op, ext), []) if s > seq), None)
        comp_seq = comp.get((op, str(ext))) or comp.get(("*", str(ext)))
        if retry is not None:
            res, by = "retried", retry
        elif comp_seq is not None and comp_seq > seq:
            res, by = "compensated", comp_seq
        else:
            res, by = "open", None
        out.append(FailedOperation(int(seq), ts, op, ext, err, res, by))
    frames.cache["failed_operations"] = tuple(out)
    return out


def orphans(frames: Frames) -> list[Orphan]:
    if not frames.reconciles:
        return []
    latest = frames.reconciles[-1]
    return [
        Orphan(
            o.get("scim_id"),
            o.get("user_name"),
            o.get("external_id"),
            o.get("reason"),
            latest["seq"],
        )
        for o in latest["orphans"]
        if isinstance(o, dict)
    ]


def _same_commit(a: str | None, b: str | None) -> bool:
    if not a or not b or min(len(a), len(b)) < 7:
        return False
    return a.startswith(b) or b.startswith(a)


def config_versions(frames: Frames) -> list[ConfigVersion]:
    """Each config version provisioning used in the period, and whether it was tested first."""
    runs = frames.runs[
        frames.runs["mode"].isin([m for m in PROVISIONING_MODES if m]) | frames.runs["mode"].isna()
    ]
    if runs.empty:
        return []
    since = frames.period.since
    t = frames.tests
    tests = t[t["passed"] & ~t["dirty"]] if not t.empty else t  # dirty trees test no commit
    out: list[ConfigVersion] = []
    dirty = runs[runs["git_dirty"] | runs["git_commit"].isna()]
    clean = runs[~(runs["git_dirty"] | runs["git_commit"].isna())]
    for commit, group in clean.groupby("git_commit", sort=False):
        in_period = int((group["ts"] >= since).sum())
        if in_period == 0:
            continue
        first = group.iloc[0]
        matching = [
            (int(s), t)
            for s, t, c in zip(tests["seq"], tests["ts"], tests["commit"], strict=True)
            if _same_commit(str(commit), c)
        ]
        before = [s for s, t in matching if s < int(first["seq"])]
        if before:
            status, by, why = (
                "tested",
                before[-1],
                f"passing test run seq {before[-1]} before first use",
            )
        elif matching:
            status, by = "tested after first use", matching[0][0]
            why = f"first used by run seq {int(first['seq'])} before its passing test seq {by}"
        else:
            status, by, why = (
                "untested",
                None,
                "no passing test run on this commit before first use",
            )
        out.append(
            ConfigVersion(
                str(commit), str(first["ts"]), int(first["seq"]), in_period, by, status, why
            )
        )
    for seq, ts, commit in zip(dirty["seq"], dirty["ts"], dirty["git_commit"], strict=True):
        if ts >= since:
            out.append(
                ConfigVersion(
                    commit,
                    ts,
                    int(seq),
                    1,
                    None,
                    "uncommitted",
                    "run used config with uncommitted changes or no recorded commit",
                )
            )
    out.sort(key=lambda c: c.first_run_seq)
    return out
