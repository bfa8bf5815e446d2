"""The pack's sections as template data, plus the CSV/JSON attachments derived from them.

:func:`sections` turns the scan, the metrics, the catalogue and the samples into one
context for ``templates/pack.html``. Long lists are cut at :data:`reports.pack.ROW_LIMIT`
rows; the template says how many rows were left to which attachment.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evidence import checkpoint as cpmod
from evidence.chain import VerifyResult
from evidence.ledger import Ledger
from reports import pack as packdata
from reports import pack_findings
from reports.charts import lag_histogram
from reports.controls import Catalogue
from reports.coverage import Coverage
from reports.metrics import Metrics
from reports.pack_findings import COLUMNS as FINDING_COLUMNS
from reports.pack_findings import Finding
from reports.pdf import FileAttachment
from reports.render import render, trusted_svg
from reports.sampling import SIZE_TABLE, Selection
from reports.sign import PdfSigner

LIMIT = packdata.ROW_LIMIT
EXCLUSIONS = (
    "Systems and targets not provisioned by scimtrail, and any account administration done "
    "by hand in a target (detected only as orphans by reconciliation runs).",
    "Authentication strength and MFA of end users (ECC 2-2-3-1, 2-2-3-2): enforced by the "
    "identity provider, not evidenced by this ledger.",
    "Privileged and service accounts that are not in the HR source (ECC 2-2-3-4).",
    "Periodic access reviews (ECC 2-2-3-5) beyond sign-offs recorded as ledger notes.",
    "Segregation of duties in approvals outside git (pull-request approvals are shown only "
    "when the git collector recorded them).",
)


@dataclass(frozen=True, slots=True)
class Sections:
    context: dict[str, Any]
    exceptions_csv: bytes
    mapping_csv: bytes
    samples_json: bytes

    def html(
        self,
        *,
        manifest_sha: str,
        attachments: Sequence[FileAttachment],
        signer: PdfSigner | None,
    ) -> str:
        listed = [
            {"name": a.name, "sha256": hashlib.sha256(a.data).hexdigest(), "bytes": len(a.data),
             "description": a.description}
            for a in attachments
        ]  # fmt: skip
        sig = (
            {"subject": signer.subject, "cert_sha256": signer.cert_sha256}
            if signer is not None
            else None
        )
        return render(
            "pack.html",
            {**self.context, "manifest_sha": manifest_sha, "attachments": listed, "signer": sig},
        )


def _cap(rows: Sequence[Any]) -> dict[str, Any]:
    return {"rows": list(rows[:LIMIT]), "total": len(rows), "left": max(0, len(rows) - LIMIT)}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _path(url: Any) -> str:
    text = str(url or "")
    parts = urlsplit(text)
    return parts.path or text


def _trace(
    ledger: Ledger,
    scan: packdata.Scan,
    stratum: str,
    doc: dict[str, Any],
    plans: dict[int, dict[str, Any]],
    plan_seq: dict[str, int],
    runs: dict[str, tuple[int, dict[str, Any]]],
) -> dict[str, Any]:
    seq = int(doc["seq"])
    entry = ledger.get(seq)
    p = entry.payload if isinstance(entry.payload, dict) else {}
    ext = str(p.get("external_id") or "")
    req, resp, hr = _d(p.get("request")), _d(p.get("response")), _d(p.get("hr"))
    body = packdata.body_of(resp)
    sent = packdata.body_of(req)
    plan_hash = str(p.get("plan_hash") or "")
    plan_text, hr_text = "no plan recorded for this exchange", "not recorded on the exchange"
    if hr:
        hr_text = f"status {hr.get('status', '?')}, effective {hr.get('effective_date') or '–'}"
    pseq = plan_seq.get(plan_hash)
    if pseq is not None:
        if pseq not in plans:
            got = ledger.get(pseq).payload
            plans[pseq] = got if isinstance(got, dict) else {}
        change = next(
            (c for c in plans[pseq].get("changes") or []
             if isinstance(c, dict) and str(c.get("external_id") or "") == ext),
            None,
        )  # fmt: skip
        if change is not None:
            diff = change.get("diff")
            keys = ", ".join(sorted(str(k) for k in diff)) if isinstance(diff, dict) else "–"
            plan_text = f"plan {plan_hash[:12]} (seq {pseq}): {change.get('op')} ({keys})"
            chr_ = change.get("hr")
            if isinstance(chr_, dict) and not hr:
                hr_text = (
                    f"status {chr_.get('status', '?')}, effective "
                    f"{chr_.get('effective_date') or '–'}"
                )
        else:
            plan_text = f"plan {plan_hash[:12]} (seq {pseq}) does not list {ext}"
    run = runs.get(entry.run_id or "")
    source = "–"
    if run is not None:
        src = _d(run[1].get("source"))
        source = (
            f"{Path(str(src.get('path', '?'))).name} (sha256 {str(src.get('sha256', ''))[:12]}…, "
            f"run.started seq {run[0]})"
        )
    state = scan.readback.get(ext)
    now = scan.state.get(ext)
    if state is not None:
        result = (
            f"{'active' if state[0] else 'inactive'} (read back from the target, seq {state[1]})"
        )
    elif now is not None:
        result = f"{'active' if now[0] else 'inactive'} at period end (last write seq {now[2]})"
    else:
        result = "no longer in the target (deleted) at period end"
    entry_line = doc["entry"]
    # a PATCH names nobody: fall back to the name the account carries at period end
    user_name = packdata.event_row(seq, entry.ts, None, p)[6] or (now[1] if now else "")
    return {
        "stratum": stratum, "seq": seq, "ts": entry.ts, "run_id": entry.run_id or "–",
        "external_id": ext or "–", "user_name": user_name,
        "display_name": str(sent.get("displayName") or body.get("displayName") or "")
                        or scan.display.get(ext, ""),  # a PATCH: the account's last one
        "hr": hr_text, "source": source, "plan": plan_text,
        "request": f"{req.get('method', '?')} {_path(req.get('url'))}",
        "response": f"{resp.get('status', '?')}; id {p.get('scim_id') or body.get('id') or '–'}"
                    + (f"; active={str(body['active']).lower()}" if "active" in body else ""),
        "payload_hash": entry.payload_hash, "leaf": entry_line["leaf"],
        "state": result, "path_len": len(doc["path"]), "tree_size": doc["tree_size"],
    }  # fmt: skip


MAPPING_COLUMNS = (
    "operation", "scim_operations", "controls", "requirements", "successful_exchanges",
    "failed_exchanges", "config_commits", "passing_test_runs", "deployments", "example_seqs",
)  # fmt: skip


def _mapping_rows(cov: Coverage | None) -> list[tuple[Any, ...]]:
    if cov is None:
        return []
    return [
        (o.operation, " ".join(o.scim_operations), " ".join(o.controls),
         " ".join(o.requirements), o.entries, o.failed, " ".join(c[:12] for c in o.commits),
         " ".join(str(t) for t in o.test_runs), "; ".join(o.deployments),
         " ".join(str(x) for x in o.sample_seqs))
        for o in cov.operations
    ]  # fmt: skip


def verdict(population: int, exceptions: int) -> str:
    """The auditor's conclusion from operating evidence."""
    if population == 0:
        return "not tested"
    if exceptions == 0:
        return "effective"
    if exceptions < population:
        return "effective with exceptions"
    return "not effective"


def _conclusions(cov: Coverage | None) -> list[dict[str, Any]]:
    if cov is None:
        return []
    return [
        {"id": r.id, "ref": r.ref, "title": r.title, "framework": r.framework,
         "controls": ", ".join(m.control for m in r.mappings) or
                     ("via " + ", ".join(r.children) if r.children else "none"),
         "verdict": verdict(r.population, r.exceptions), "coverage": r.status.value,
         "population": r.population, "passed": r.passed, "exceptions": r.exceptions}
        for r in cov.requirements
    ]  # fmt: skip


def sections(
    *,
    ledger: Ledger,
    options: Any,
    pack_id: str,
    cp: cpmod.Checkpoint,
    chain: VerifyResult,
    scan: packdata.Scan,
    metrics: Metrics,
    catalogue: Catalogue | None,
    coverage: Coverage | None,
    catalogue_problem: str,
    populations: list[packdata.Population],
    selections: list[Selection],
    proof_docs: list[dict[str, Any]],
    recon: pack_findings.Reconciliation,
    findings: list[Finding],
    junit: list[FileAttachment],
    junit_unmatched: int,
    pubkey: Any,
) -> Sections:
    period = options.period
    plan_seq = scan.plan_seqs
    runs = {str(r): (seq, p) for seq, _ts, r, p in scan.runs_started if r}
    plans: dict[int, dict[str, Any]] = {}
    stratum_of = {seq: s.stratum for s in selections for seq in s.seqs}
    traces = [
        _trace(ledger, scan, stratum_of[int(d["seq"])], d, plans, plan_seq, runs)
        for d in proof_docs[:LIMIT]
    ]
    lags = [lv.lag_business_days for lv in metrics.leaver_rows if lv.status == "deactivated"]
    chart = lag_histogram(
        [int(x) for x in lags if x is not None], metrics.sla.business_days,
        title="Deprovisioning lag in business days",
    )  # fmt: skip
    changes = pack_findings.changes(
        scan, {str(c.commit): (c.status, c.reason) for c in metrics.config_versions if c.commit}
    )
    by_day: dict[str, list[int]] = {}
    for _seq, ts, p in scan.tests:
        day = by_day.setdefault(ts[:10], [0, 0])
        day[0 if p.get("passed") is True else 1] += 1
    per_commit: dict[str, list[int]] = {}
    for _seq, _ts, p in scan.tests:
        c = per_commit.setdefault(str(p.get("commit", ""))[:12], [0, 0])
        c[0 if p.get("passed") is True else 1] += 1
    targets = sorted({json.dumps(p.get("target"), sort_keys=True) for *_x, p in scan.runs_started})
    sources = sorted(
        {(str(_d(p.get("source")).get("path", "?")), str(_d(p.get("source")).get("sha256", "")))
         for *_x, p in scan.runs_started if isinstance(p.get("source"), dict)}
    )  # fmt: skip
    as_of = datetime.fromisoformat(cp.time.replace("Z", "+00:00"))
    first_ts = scan.first_ts
    retention_days = (
        (as_of - datetime.fromisoformat(first_ts.replace("Z", "+00:00"))).days if first_ts else 0
    )
    mapping_rows = _mapping_rows(coverage)
    frameworks = []
    if catalogue is not None:
        used = {catalogue.requirements[mp.requirement].framework for mp in catalogue.mappings
                if mp.requirement in catalogue.requirements}  # fmt: skip
        frameworks = [f for f in catalogue.frameworks.values() if f.id in used]
    reqs = []
    if catalogue is not None:
        mapped = {mp.requirement for mp in catalogue.mappings}
        reqs = [r for r in catalogue.requirements.values() if r.id in mapped]
    ctx: dict[str, Any] = {
        "pack_id": pack_id, "o": options, "period": period, "cp": cp,
        "as_of": cp.time, "period_open": cp.time < period.until,
        "version": scimtrail_version(), "git_sha": scimtrail_git_sha(),
        "origin": ledger.origin, "key_fingerprint": cpmod.fingerprint(pubkey),
        "chain": {"size": chain.size, "head": chain.head_hex, "root": chain.root.hex(),
                  "erased": chain.erased, "checkpoints": chain.checkpoints_checked},
        "scan": scan, "metrics": metrics, "summary": metrics.summary(),
        "conclusions": _conclusions(coverage), "coverage": coverage,
        "catalogue": catalogue, "catalogue_problem": catalogue_problem,
        "frameworks": frameworks, "requirements": reqs,
        "populations": populations, "recon": recon,
        "selections": selections, "size_table": SIZE_TABLE, "traces": traces,
        "traces_left": len(proof_docs) - len(traces),
        "seed": options.seed_value, "chart": trusted_svg(chart),
        "breaches": _cap(list(metrics.breaches)), "changes": _cap(changes),
        "flagged_changes": sum(1 for c in changes if c.flag),
        "tests": _cap(scan.tests), "tests_by_day": sorted(by_day.items()),
        "tests_by_commit": sorted(per_commit.items()),
        "junit": [a.name for a in junit], "junit_unmatched": junit_unmatched,
        "findings": _cap(findings),
        "open_findings": sum(1 for f in findings if f.status.startswith("open")),
        "mapping": _cap(mapping_rows),
        "targets": [json.loads(t) for t in targets if t != "null"], "sources": sources,
        "exclusions": EXCLUSIONS, "retention_days": retention_days, "first_ts": first_ts,
        "kinds": sorted(scan.kinds.items()),
    }  # fmt: skip
    samples = {
        "seed": options.seed_value,
        "method": "rank = SHA-256(seed '\\n' stratum '\\n' seq) hex, ascending; first n",
        "strata": [{"stratum": s.stratum, "population": s.population, "size": s.size,
                    "basis": s.basis, "seqs": list(s.seqs)} for s in selections],
        "proofs": proof_docs,
    }  # fmt: skip
    return Sections(
        ctx,
        packdata.csv_bytes(FINDING_COLUMNS, (f.row() for f in findings)),
        packdata.csv_bytes(MAPPING_COLUMNS, mapping_rows),
        (json.dumps(samples, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode(),
    )


def scimtrail_version() -> str:
    try:
        return version("scimtrail")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def scimtrail_git_sha() -> str:
    """The commit of the code this process runs (read once: later commits are not it)."""
    env = os.environ.get("SCIMTRAIL_GIT_SHA")
    if env:
        return env
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


__all__ = [
    "MAPPING_COLUMNS",
    "Sections",
    "scimtrail_git_sha",
    "scimtrail_version",
    "sections",
    "verdict",
]
