"""`scimtrail report …` (coverage, metrics) and `scimtrail controls …` (check, list).

Parses arguments, calls one library function, prints. Output is data, so every
command takes ``--format table|json|csv``. Exit codes: 0 ok, 1 error, 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evidence.cli import DbOpt, FormatOpt
from evidence.ledger import Ledger
from evidence.output import Format, render
from reports.controls import load_catalogue
from reports.pack_cli import pack, verify_pack
from reports.periods import Period, resolve_period

if TYPE_CHECKING:
    from reports.metrics import Sla

report_app = typer.Typer(
    help="Coverage of requirements and internal controls, and provisioning metrics, per period.",
    no_args_is_help=True,
)
controls_app = typer.Typer(
    help="The control catalogue (controls/): requirements, internal controls, mappings, rules.",
    no_args_is_help=True,
)

PeriodOpt = Annotated[
    str | None,
    typer.Option("--period", "-p", help="2026-Q3, 2026-H2, 2026-07 or 2026."),
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="First day (inclusive), e.g. 2026-07-01.")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day (inclusive), e.g. 2026-09-30.")]
CatalogueOpt = Annotated[
    Path | None,
    typer.Option(
        "--catalogue",
        envvar="SCIMTRAIL_CONTROLS",
        help="Catalogue directory (default: the controls/ shipped with scimtrail).",
        show_default=False,
    ),
]
ITEM_COLUMNS = [
    "id", "kind", "status", "reason", "population", "passed", "exceptions", "title", "aliases",
]  # fmt: skip
TABLE_COLUMNS = ["id", "title", "status", "reason", "population", "passed", "exceptions"]


@report_app.command("coverage")
def coverage_cmd(
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    framework: Annotated[
        str | None,
        typer.Option(help="Only this framework: nca-ecc-2, nca-ecc-1, soc2, iso27001, nist, cis."),
    ] = None,
    explain: Annotated[
        str | None,
        typer.Option(help="Drill down: the rows that decided this requirement or control id."),
    ] = None,
    verify: Annotated[
        bool, typer.Option(help="Re-verify the whole ledger for the logging control.")
    ] = True,
    fmt: FormatOpt = Format.table,
    catalogue: CatalogueOpt = None,
    db: DbOpt = None,
) -> None:
    """Each requirement and internal control: covered / partial / not covered / not tested."""
    from reports.coverage import compute_coverage  # pandas: imported only when needed

    p = resolve_period(period, start, end)
    cat = load_catalogue(catalogue)
    with Ledger.open(db) as ledger:
        cov = compute_coverage(ledger, p, framework, catalogue=cat, verify=verify)
    if explain is not None:
        item = cov.find(explain)
        rows = [{"rule": rule, **f.as_dict()} for rule, f in cov.explain(explain)]
        cols = ["rule", "outcome", "seq", "kind", "ts", "subject", "detail"]
        if fmt is Format.json:
            doc = {"item": item.as_dict(), "period": p.as_dict(), "rows": rows}
            import json

            typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
            return
        if fmt is Format.table:
            typer.echo(f"{item.id}: {item.status.value} — {item.reason}")
        typer.echo(render(rows, fmt, cols, title=f"{item.id} in {p.label}", max_width=90), nl=False)
        return
    if fmt is Format.json:
        import json

        typer.echo(json.dumps(cov.as_dict(), ensure_ascii=False, indent=2))
        return
    reqs = [_item(r.as_dict()) for r in cov.requirements]
    ctrls = [_item(c.as_dict()) for c in cov.controls]
    if fmt is Format.csv:
        typer.echo(render(reqs + ctrls, fmt, ITEM_COLUMNS), nl=False)
        return
    title = f"Coverage {p.label} ({p.start} to {p.end})" + (f", {framework}" if framework else "")
    typer.echo(
        render(reqs, fmt, TABLE_COLUMNS, title=title + ": requirements", max_width=70), nl=False
    )
    for c in ctrls:
        if c["aliases"]:
            c["title"] = f"{c['title']} (also known as: {'; '.join(c['aliases'])})"
    typer.echo(render(ctrls, fmt, TABLE_COLUMNS, title="internal controls", max_width=70), nl=False)
    ops = [o.as_dict() for o in cov.operations]
    for o in ops:
        o["commits"] = [c[:12] for c in o["commits"]]
    typer.echo(
        render(ops, fmt, ["operation", "requirements", "entries", "failed", "sample_seqs",
                          "commits", "test_runs", "deployments"],
               title="operation → requirement → evidence", max_width=60),
        nl=False,
    )  # fmt: skip
    s = cov.summary()
    typer.echo(", ".join(f"{n} {k}" for k, n in s.items()) + f" (of {len(cov.requirements)})")


def _item(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d.get(k) for k in ITEM_COLUMNS}


LISTS = ("summary", "leavers", "breaches", "failed", "orphans", "config", "untested")


@report_app.command("metrics")
def metrics_cmd(
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    sla_days: Annotated[
        int | None,
        typer.Option(help="Deprovisioning SLA in business days (default: from the catalogue)."),
    ] = None,
    show: Annotated[
        str,
        typer.Option("--list", help=f"What to list with --format table/csv: {', '.join(LISTS)}."),
    ] = "summary",
    fmt: FormatOpt = Format.table,
    catalogue: CatalogueOpt = None,
    db: DbOpt = None,
) -> None:
    """Joiners/movers/leavers, leaver lag (p50/p95/max), breaches, failures, orphans."""
    if show not in LISTS:
        raise typer.BadParameter(f"choose one of {', '.join(LISTS)}", param_hint="--list")
    from reports.coverage import sla_of  # pandas: imported only when needed
    from reports.frames import load_frames
    from reports.metrics import Sla, compute_metrics

    p = resolve_period(period, start, end)
    sla = sla_of(load_catalogue(catalogue))
    if sla_days is not None:
        sla = Sla(sla_days, sla.timezone, sla.weekend, sla.holidays)
    with Ledger.open(db) as ledger:
        met = compute_metrics(ledger, p, sla, frames=load_frames(ledger, p))
    doc = met.as_dict()
    if fmt is Format.json:
        import json

        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    key = {"leavers": "leaver_rows", "failed": "failed_operations", "config": "config_versions",
           "untested": "untested_changes"}.get(show, show)  # fmt: skip
    if show == "summary":
        summary = doc["summary"]
        if fmt is Format.csv:
            typer.echo(render([summary], fmt), nl=False)
            return
        rows = [{"metric": k, "value": v} for k, v in summary.items()]
        typer.echo(render(rows, fmt, title=_metrics_title(p, sla)), nl=False)
        sections = (
            ("breaches", "SLA breaches"),
            ("failed_operations", "failed operations"),
            ("orphans", "orphaned accounts"),
            ("untested_changes", "config used without a passing test first"),
        )
        for name, title in sections:
            if doc[name]:
                typer.echo(render(doc[name], fmt, title=title, max_width=60), nl=False)
        return
    rows = doc[key]
    if not rows:
        typer.echo(f"no {show} in {p.label}" if fmt is Format.table else "", nl=fmt is Format.table)
        return
    typer.echo(render(rows, fmt, title=f"{show} {p.label}", max_width=60), nl=False)


def _metrics_title(p: Period, sla: Sla) -> str:
    return (
        f"Metrics {p.label} ({p.start} to {p.end}); SLA {sla.business_days} business day(s), "
        f"{sla.timezone}, weekend {'/'.join(sla.weekend)}"
    )


@controls_app.command("check")
def check_cmd(catalogue: CatalogueOpt = None) -> None:
    """Validate the catalogue; on error print file:line: reason and exit 1."""
    cat = load_catalogue(catalogue)
    typer.echo(
        f"OK: {cat.path}: {len(cat.frameworks)} frameworks, {len(cat.requirements)} requirements, "
        f"{len(cat.controls)} internal controls, {len(cat.mappings)} mappings, "
        f"{len(cat.rules)} evidence rules, {len(cat.crosswalk)} crosswalk edges "
        f"(sha256 {cat.digest[:16]}…)"
    )
    mapped = {m.requirement for m in cat.mappings}
    for fw in cat.frameworks:
        leaves = [
            r.ref
            for r in cat.requirements.values()
            if r.framework == fw and r.id not in mapped and not cat.children(r.id)
        ]
        if leaves:
            typer.echo(f"note: {fw}: no internal control maps to {', '.join(leaves)}")


@controls_app.command("list")
def list_cmd(
    what: Annotated[
        str, typer.Argument(help="requirements, controls, mappings, crosswalk or frameworks.")
    ] = "controls",
    framework: Annotated[str | None, typer.Option(help="Only this framework.")] = None,
    fmt: FormatOpt = Format.table,
    catalogue: CatalogueOpt = None,
) -> None:
    """List the catalogue's requirements, internal controls, mappings, crosswalk or frameworks."""
    cat = load_catalogue(catalogue)
    rows: list[dict[str, Any]]
    if what == "frameworks":
        rows = [vars_of(f) for f in cat.frameworks.values()]
    elif what == "requirements":
        rows = [
            {"id": r.id, "title": r.title, "text": r.text, "text_kind": r.text_kind,
             "parent": r.parent}
            for r in cat.requirements.values() if framework is None or r.framework == framework
        ]  # fmt: skip
    elif what == "controls":
        rows = [
            {"id": c.id, "title": c.title, "aliases": [a.name for a in c.aliases],
             "owner": c.owner, "frequency": c.frequency, "type": c.type, "key": c.key,
             "evidence": c.evidence, "parameters": dict(c.parameters)}
            for c in cat.controls.values()
        ]  # fmt: skip
    elif what == "mappings":
        rows = [
            {"control": m.control, "requirement": m.requirement, "relationship": m.relationship,
             "coverage": m.coverage, "rationale": m.rationale}
            for m in cat.mappings
            if framework is None or m.requirement.startswith(framework + ":")
        ]  # fmt: skip
    elif what == "crosswalk":
        rows = [
            {"source": c.source, "target": c.target, "relationship": c.relationship,
             "note": c.note}
            for c in cat.crosswalk
            if framework is None or framework + ":" in (c.source[: len(framework) + 1],
                                                        c.target[: len(framework) + 1])
        ]  # fmt: skip
    else:
        raise typer.BadParameter(
            "choose requirements, controls, mappings, crosswalk or frameworks", param_hint="WHAT"
        )
    typer.echo(render(rows, fmt, max_width=70), nl=False)


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


report_app.command("pack")(pack)
report_app.command("verify-pack")(verify_pack)
