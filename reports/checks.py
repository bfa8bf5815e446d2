"""The built-in checks an evidence rule may name (``check:`` in controls/rules.yaml).

Each looks at the period's :class:`~reports.frames.Frames` (and, for integrity, the
ledger) and returns a :class:`~reports.results.RuleResult`: status, one-line reason,
population, passed and exception counts, and the deciding rows (every exception up to
``MAX_ROWS``, a few passing samples). ``CHECKS`` maps each name to its function; a test
keeps it equal to ``reports.controls.KNOWN_CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from evidence import query
from evidence.errors import IntegrityError
from evidence.ledger import Ledger
from reports.frames import Frames
from reports.metrics import Sla, config_versions, failed_operations, leavers
from reports.results import MAX_ROWS, SAMPLES, Finding, RuleResult, Status, status_from_counts


@dataclass(slots=True)
class Context:
    ledger: Ledger
    frames: Frames
    verify: bool
    stats: query.Stats | None = None


def _result(
    name: str, population: int, exc: list[Finding], ok: list[Finding], reason: str
) -> RuleResult:
    rows = tuple(exc[:MAX_ROWS] + ok[:SAMPLES])
    status = status_from_counts(population, len(exc))
    return RuleResult(name, name, status, reason, population, population - len(exc), len(exc), rows)


CheckFn = Callable[[Context, Mapping[str, Any]], RuleResult]
CHECKS: dict[str, CheckFn] = {}


def _check(fn: CheckFn) -> CheckFn:
    CHECKS[fn.__name__] = fn
    return fn


@_check
def leavers_within_sla(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    sla = Sla.from_parameters(params)
    rows = leavers(ctx.frames, sla)
    judged = [r for r in rows if r.status != "pending"]
    pending = len(rows) - len(judged)
    exc: list[Finding] = []
    ok: list[Finding] = []
    for r in judged:
        subj = (
            f"{r.external_id} (employee {r.employee_id})" if r.employee_id else str(r.external_id)
        )
        if r.status == "deactivated":
            detail = (
                f"HR effective {r.effective_date}, deactivated {r.deactivated_at}: "
                f"{r.lag_business_days} business day(s), {r.lag_hours} h (SLA {sla.business_days})"
            )
        elif r.status == "no HR date":
            detail = "no HR effective termination date recorded: lag cannot be measured"
        else:
            detail = (
                f"HR effective {r.effective_date}, not deactivated by {ctx.frames.period.end}: "
                f"{r.lag_business_days} business days and counting"
            )
        f = Finding(
            r.seq,
            "scim.exchange",
            r.deactivated_at,
            subj,
            "exception" if r.breach else "pass",
            detail,
        )
        (exc if r.breach else ok).append(f)
    worst = max((r.lag_business_days or 0 for r in judged), default=0)
    if not judged:
        reason = "no leavers in the period" + (f" ({pending} still within SLA)" if pending else "")
    elif exc:
        reason = (
            f"{len(exc)} of {len(judged)} leavers breached the {sla.business_days}-business-day "
            f"SLA (worst {worst})"
        )
    else:
        reason = f"all {len(judged)} leavers deactivated within {sla.business_days} business day(s)"
    return _result("leavers_within_sla", len(judged), exc, ok, reason)


@_check
def operations_succeed(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    ops = [str(o) for o in params.get("operations", ())] or None
    ex = ctx.frames.exchanges
    final = ex[ex["outcome"].isin(["ok", "failed"])]
    if ops is not None:
        final = final[final["operation"].isin(ops)]
    population = len(final)
    exc: list[Finding] = []
    ok: list[Finding] = []
    for f in failed_operations(ctx.frames):
        if ops is not None and f.operation not in ops:
            continue
        if f.resolution == "open":
            exc.append(
                Finding(
                    f.seq,
                    "scim.exchange",
                    f.ts,
                    f"{f.operation} {f.external_id}",
                    "exception",
                    f"failed ({f.error}); not retried or compensated",
                )
            )
        else:
            ok.append(
                Finding(
                    f.seq,
                    "scim.exchange",
                    f.ts,
                    f"{f.operation} {f.external_id}",
                    "pass",
                    f"failed ({f.error}); {f.resolution} by seq {f.resolved_by}",
                )
            )
    sample = final[final["outcome"] == "ok"].head(SAMPLES)
    for seq, ts, op, ext in zip(
        sample["seq"], sample["ts"], sample["operation"], sample["external_id"], strict=True
    ):
        ok.append(Finding(int(seq), "scim.exchange", ts, f"{op} {ext}", "pass", "succeeded"))
    resolved = sum(1 for f in ok if f.detail.startswith("failed"))
    reason = (
        f"{population} operations; {len(exc)} failed and still open; "
        f"{resolved} failed and were retried or compensated"
        if population
        else "no provisioning operations in the period"
    )
    return _result("operations_succeed", population, exc, ok, reason)


def _period_runs(ctx: Context) -> Any:
    runs = ctx.frames.runs
    return runs[runs["ts"] >= ctx.frames.period.since]


@_check
def runs_complete(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    runs = _period_runs(ctx)
    fin = {
        r: (int(s), bool(o))
        for r, s, o in zip(
            ctx.frames.finished["run_id"],
            ctx.frames.finished["seq"],
            ctx.frames.finished["ok"],
            strict=True,
        )
    }
    exc: list[Finding] = []
    ok: list[Finding] = []
    for seq, ts, run_id, mode in zip(
        runs["seq"], runs["ts"], runs["run_id"], runs["mode"], strict=True
    ):
        done = fin.get(run_id)
        if done is None:
            exc.append(
                Finding(
                    int(seq),
                    "run.started",
                    ts,
                    f"run {run_id} ({mode})",
                    "exception",
                    "no run.finished entry: the run crashed or is still running",
                )
            )
        else:
            word = "succeeded" if done[1] else "finished with failures (see operations)"
            ok.append(
                Finding(done[0], "run.finished", None, f"run {run_id} ({mode})", "pass", word)
            )
    n = len(runs)
    reason = f"{n - len(exc)} of {n} runs finished" if n else "no provisioning runs in the period"
    return _result("runs_complete", n, exc, ok, reason)


@_check
def exchanges_logged(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    fin = ctx.frames.finished
    fin = fin[(fin["ts"] >= ctx.frames.period.since) & fin["requests"].notna()]
    counts = ctx.frames.exchange_counts
    exc: list[Finding] = []
    ok: list[Finding] = []
    for seq, ts, run_id, req in zip(
        fin["seq"], fin["ts"], fin["run_id"], fin["requests"], strict=True
    ):
        got = int(counts.get(run_id, 0))
        want = int(req)
        f = Finding(
            int(seq),
            "run.finished",
            ts,
            f"run {run_id}",
            "pass" if got == want else "exception",
            f"run reports {want} requests; ledger holds {got} exchanges",
        )
        (ok if got == want else exc).append(f)
    n = len(fin)
    reason = (
        f"{n - len(exc)} of {n} finished runs have every request in the ledger"
        if n
        else "no finished runs in the period to reconcile"
    )
    return _result("exchanges_logged", n, exc, ok, reason)


@_check
def config_tested_before_use(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    exc: list[Finding] = []
    ok: list[Finding] = []
    versions = config_versions(ctx.frames)
    for v in versions:
        f = Finding(
            v.first_run_seq,
            "run.started",
            v.first_used_at,
            f"config {v.commit}",
            "pass" if v.status == "tested" else "exception",
            f"{v.status}: {v.reason}",
        )
        (ok if v.status == "tested" else exc).append(f)
    n = len(versions)
    reason = (
        f"{n - len(exc)} of {n} config versions in use had a passing test run before first use"
        if n
        else "no provisioning runs with a config version in the period"
    )
    return _result("config_tested_before_use", n, exc, ok, reason)


def _ident(name: Any, email: Any) -> set[str]:
    return {str(v).strip().lower() for v in (name, email) if v}


@_check
def config_changes_approved(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    c = ctx.frames.commits
    p = ctx.frames.period
    via: dict[str, list[tuple[str, Any, list[dict[str, Any]]]]] = {}
    for sha, pr, approvals, merged in zip(
        c["sha"], c["pull_request"], c["approvals"], c["merged_commits"], strict=True
    ):
        for m in merged:
            via.setdefault(str(m), []).append((str(sha), pr, approvals))
    exc: list[Finding] = []
    ok: list[Finding] = []
    n = 0
    for seq, ts, sha, author, email, when, approvals, merge, subject in zip(
        c["seq"],
        c["ts"],
        c["sha"],
        c["author"],
        c["author_email"],
        c["committed_at"],
        c["approvals"],
        c["merge"],
        c["subject"],
        strict=True,
    ):
        day = _date(when) or _date(ts)
        if day is None or day not in p:
            continue
        n += 1
        me = _ident(author, email)
        subj = f"{str(sha)[:12]} {subject}"
        others = _approvers(approvals, me)
        if others:
            ok.append(Finding(int(seq), "git.commit", ts, subj, "pass", f"approved by {others}"))
            continue
        merged_by = [
            (m, pr, who) for m, pr, appr in via.get(str(sha), []) if (who := _approvers(appr, me))
        ]
        if merged_by:
            m, pr, who = merged_by[0]
            what = f"PR #{pr}" if pr else f"merge {m[:12]}"
            ok.append(Finding(int(seq), "git.commit", ts, subj, "pass",
                              f"merged by {what}, approved by {who}"))  # fmt: skip
            continue
        why = "approved only by its author" if approvals else "no approval recorded in git"
        kind = "merge" if merge else "commit"
        exc.append(
            Finding(int(seq), "git.commit", ts, subj, "exception", f"{kind} by {author}: {why}")
        )
    reason = (
        f"{n - len(exc)} of {n} config changes approved by someone other than the author"
        if n
        else "no config changes in the period"
    )
    return _result("config_changes_approved", n, exc, ok, reason)


def _approvers(approvals: list[dict[str, Any]], author: set[str]) -> str:
    """Names of the approvals given by someone other than ``author`` (empty if none)."""
    others = [a for a in approvals if not (_ident(a.get("name"), a.get("email")) & author)]
    return ", ".join(str(a.get("name") or a.get("email")) for a in others)


def _date(value: Any) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _stats(ctx: Context) -> query.Stats:
    if ctx.stats is None:
        ctx.stats = query.stats(ctx.ledger)
    return ctx.stats


@_check
def ledger_verifies(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    st = _stats(ctx)
    if not ctx.verify:
        gap = "no gaps in seq" if st.gapless else "GAPS in seq"
        return RuleResult(
            "ledger_verifies",
            "ledger_verifies",
            Status.not_tested,
            f"verification skipped; {st.count} entries, {gap}",
            0,
            0,
            0,
            (),
        )
    try:
        res = ctx.ledger.verify()
    except IntegrityError as err:
        f = Finding(
            getattr(err, "seq", None), "ledger", None, "ledger chain", "exception", err.message
        )
        return _result("ledger_verifies", 1, [f], [], f"ledger does NOT verify: {err.message}")
    f = Finding(
        res.size or None,
        "ledger",
        st.last_ts,
        "ledger chain",
        "pass",
        f"verified {res.size} entries, head {res.head_hex}",
    )
    return _result("ledger_verifies", 1, [], [f], f"ledger verifies: {res.size} entries, no gaps")


@_check
def log_retention(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    months = int(params.get("retention_months", 12))
    st = _stats(ctx)
    end = ctx.frames.period.end
    y, m = divmod(end.year * 12 + end.month - 1 - months, 12)
    need = date(y, m + 1, min(end.day, 28))
    if st.count == 0 or st.first_ts is None:
        return _result("log_retention", 0, [], [], "the ledger is empty")
    first = _date(st.first_ts)
    gap = (
        []
        if st.gapless
        else [
            Finding(
                None,
                "ledger",
                None,
                "ledger",
                "exception",
                "entries are missing from the seq range",
            )
        ]
    )
    okf = Finding(
        st.first_seq,
        "ledger",
        st.first_ts,
        "first entry",
        "pass",
        f"entries retained since {st.first_ts} ({st.count} entries)",
    )
    if first is not None and first <= need:
        reason = f"entries retained since {first}, at least {months} months before {end}"
    else:
        reason = (
            f"ledger started {first}, less than {months} months before {end}; every entry since "
            "then is retained"
        )
    if gap:
        reason = "entries missing from the ledger: " + reason
    return _result("log_retention", 1, gap, [okf], reason)


def _loopback(url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    return host in ("localhost", "::1") or host.startswith("127.")


@_check
def auth_from_secrets_source(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    allowed = {str(a) for a in params.get("allowed_auth", ("env", "file", "command", "oauth2"))}
    runs = _period_runs(ctx)
    exc: list[Finding] = []
    ok: list[Finding] = []
    for seq, ts, run_id, method, url in zip(
        runs["seq"],
        runs["ts"],
        runs["run_id"],
        runs["auth_method"],
        runs["target_url"],
        strict=True,
    ):
        problems = []
        if method not in allowed:
            problems.append(f"authenticated with {method or 'an unrecorded method'!s}")
        if url and str(url).startswith("http://") and not _loopback(url):
            problems.append(f"target {url} is not TLS")
        subj = f"run {run_id}"
        if problems:
            exc.append(Finding(int(seq), "run.started", ts, subj, "exception", "; ".join(problems)))
        else:
            ok.append(Finding(int(seq), "run.started", ts, subj, "pass", f"token from {method}"))
    n = len(runs)
    reason = (
        f"{n - len(exc)} of {n} runs used a credential from a secrets source over TLS"
        if n
        else "no provisioning runs in the period"
    )
    return _result("auth_from_secrets_source", n, exc, ok, reason)


@_check
def access_review_signed_off(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    kinds = {str(k) for k in params.get("signoff_kinds", ("access_review.signoff", "note"))}
    found = []
    for r in ctx.frames.reviews:
        p = r["payload"] if isinstance(r["payload"], dict) else {}
        if r["kind"] not in kinds:
            continue
        if r["kind"] == "note" and not (p.get("signed_off") is True and p.get("review")):
            continue
        found.append(
            Finding(
                r["seq"],
                r["kind"],
                r["ts"],
                str(p.get("review", "access review")),
                "pass",
                f"signed off by {r['actor']}",
            )
        )
    if not found:
        f = Finding(
            None,
            "access_review.signoff",
            None,
            "access review",
            "exception",
            f"no sign-off recorded between {ctx.frames.period.start} and {ctx.frames.period.end}",
        )
        return _result(
            "access_review_signed_off", 1, [f], [], "no access review signed off in the period"
        )
    return _result(
        "access_review_signed_off",
        1,
        [],
        found,
        f"{len(found)} access review sign-off(s) in the period",
    )


@_check
def reconcile_no_orphans(ctx: Context, params: Mapping[str, Any]) -> RuleResult:
    recs = [r for r in ctx.frames.reconciles if r["ts"] >= ctx.frames.period.since]
    if not recs:
        return _result("reconcile_no_orphans", 0, [], [], "no reconcile report in the period")
    latest = recs[-1]
    exc = [
        Finding(
            latest["seq"],
            "reconcile.report",
            latest["ts"],
            f"{o.get('user_name') or o.get('scim_id')}",
            "exception",
            f"orphaned account (scim id {o.get('scim_id')}): {o.get('reason') or 'no HR record'}",
        )
        for o in latest["orphans"]
        if isinstance(o, dict)
    ]
    ok = (
        [
            Finding(
                latest["seq"],
                "reconcile.report",
                latest["ts"],
                str(latest.get("target")),
                "pass",
                "reconcile found no orphaned accounts",
            )
        ]
        if not exc
        else []
    )
    reason = (
        f"latest reconcile (seq {latest['seq']}) lists {len(exc)} orphaned account(s)"
        if exc
        else f"latest reconcile (seq {latest['seq']}) lists no orphaned accounts"
    )
    # one reconcile, judged as a whole: any orphan fails it
    res = _result("reconcile_no_orphans", 1, exc[:1], ok, reason)
    return RuleResult(
        res.rule, res.check, res.status, reason, 1, res.passed, len(exc), tuple(exc[:MAX_ROWS] + ok)
    )
