"""`scimtrail provision …`: check-mapping, plan, approve, apply, reconcile, serve.

Parses arguments, calls one library function, prints. Exit codes: 0 ok (apply: every
change landed), 1 error or some changes failed (listed), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence.cli import DbOpt, FormatOpt
from evidence.ledger import Ledger
from evidence.output import Format, render
from provisioner import mapping as mp
from provisioner import sources
from provisioner.apply import (
    RunContext,
    RunResult,
    apply_run,
    default_actor,
    load_plan,
    plan_run,
    refuse_invalid,
)
from provisioner.apply import (
    approve as approve_plan,
)
from provisioner.config import DEFAULT_TOKEN_ENV, Target, load_config, resolve_target

app = typer.Typer(
    help="Provision identities from HR exports to SCIM targets: plan, approve, apply, "
    "reconcile, serve HR webhooks. Every exchange is recorded in the evidence ledger.",
    no_args_is_help=True,
)

SourceOpt = Annotated[Path, typer.Option("--source", help="HR export: .csv, .json or .jsonl.")]
MappingOpt = Annotated[Path, typer.Option("--mapping", help="Mapping YAML (docs/mapping.md).")]
TargetOpt = Annotated[
    str, typer.Option("--target", help="Target name from the config file, or a SCIM base URL.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="SCIMTRAIL_CONFIG",
        help="Targets file (default ./scimtrail.toml when present).",
        show_default=False,
    ),
]
TokenEnvOpt = Annotated[
    str, typer.Option("--token-env", help="Env var holding the bearer token for a bare URL target.")
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who runs this (default: CI identity, else the OS user).",
        show_default=False,
    ),
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure-http", help="Allow plain http to a non-loopback host.")
]
SkipOpt = Annotated[
    bool, typer.Option("--skip-invalid", help="Provision the valid rows; reject the bad ones.")
]
TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        help="Evaluate dates as of this day (YYYY-MM-DD); default today.",
        show_default=False,
    ),
]
FullOpt = Annotated[
    bool,
    typer.Option("--full", help="Read the whole target even when an incremental run is possible."),
]


def _target(spec: str, config: Path | None, token_env: str, insecure: bool) -> Target:
    overrides: dict[str, Any] = {"insecure_http": True} if insecure else {}
    return resolve_target(spec, load_config(config), token_env=token_env, overrides=overrides)


def _today(v: str | None) -> date | None:
    if v is None:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise typer.BadParameter(
            f"{v!r} is not a date (YYYY-MM-DD)", param_hint="--today"
        ) from None


def _source(path: Path, m: mp.MappingFile) -> sources.Source:
    src = sources.read(path, m)
    for r in src.rejected:
        typer.echo(f"rejected: {r}", err=True)
    return src


def _progress(enabled: bool) -> tuple[Any, Any]:
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("applying", total=None)

    def update(phase: str, done: int, total: int) -> None:
        bar.update(task, description=phase, completed=done, total=total)

    return bar, update


def _changes_table(result: RunResult, fmt: Format) -> str:
    rows = []
    for c in result.plan.changes:
        if c.op == "update" and c.diff:
            detail = "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in sorted(c.diff.items()))
        elif c.op.startswith("membership"):
            detail = f"{c.group} ({c.display_name})"
        elif c.op == "group_create":
            detail = str(c.display_name)
        else:
            detail = c.reason or ""
        rows.append(
            {"op": c.op, "external_id": c.external_id, "user": c.user_name or "", "detail": detail}
        )
    return render(rows, fmt, ["op", "external_id", "user", "detail"], max_width=80)


def _summary(result: RunResult, verb: str) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items() if v)
    return (
        f"{verb}: {counts or 'no changes'}; failed {len(result.failures)}, "
        f"{result.requests} requests, {result.retries} retries, {result.duration_s:.2f}s "
        f"(run {result.run_id}, plan {result.plan.plan_hash[:16] or '-'})"
    )


@app.command("check-mapping")
def check_mapping(
    mapping: MappingOpt,
    source: Annotated[Path | None, typer.Option("--source", help="Sample records.")] = None,
    limit: Annotated[int, typer.Option(help="How many sample records to show.")] = 3,
    today: TodayOpt = None,
) -> None:
    """Validate a mapping; with --source, print the SCIM payload for sample records."""
    m = mp.load(mapping)
    typer.echo(
        f"mapping {mapping}: OK (sha256 {m.sha256[:16]}…, {len(m.rules)} attribute "
        f"rules, {len(m.groups)} group rules)"
    )
    typer.echo(f"reads HR columns: {', '.join(sorted(m.columns))}")
    if source is None:
        return
    src = _source(source, m)
    day = _today(today) or date.today()
    out = []
    for rec in src.records[:limit]:
        st = m.state(rec, day)
        out.append(
            {
                "employee_id": rec[m.source.key],
                "state": st.category,
                "reason": st.reason,
                "user": mp.sample_payload(m, rec),
                "groups": m.groups_for(rec),
            }
        )
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    if src.rejected:
        raise typer.Exit(1)


@app.command()
def plan(
    source: SourceOpt,
    mapping: MappingOpt,
    target: TargetOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Write the plan (JSON) here.")] = None,
    person: Annotated[
        list[str] | None, typer.Option("--person", help="Only this employee id.")
    ] = None,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    insecure_http: InsecureOpt = False,
    actor: ActorOpt = None,
    today: TodayOpt = None,
    full: FullOpt = False,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the ordered changes apply would make; writes nothing to the target."""
    t = _target(target, config, token_env, insecure_http)
    m = mp.load(mapping)
    src = _source(source, m)
    with Ledger.open(db) as ledger:
        rc = RunContext(t, m, ledger, default_actor(actor), today=_today(today), full=full)
        refuse_invalid(rc, src, skip_invalid)
        result = plan_run(rc, src, only=person)
    typer.echo(_changes_table(result, fmt), nl=False)
    if out is not None:
        out.write_bytes(result.plan.to_json())
        typer.echo(f"plan written to {out}", err=True)
    for f in result.failures:
        typer.echo(f"problem: {f.external_id}: {f.error}", err=True)
    typer.echo(_summary(result, "planned"), err=True)
    raise typer.Exit(result.exit_code)


@app.command()
def approve(
    plan_file: Annotated[Path, typer.Argument(help="The plan JSON written by `plan --out`.")],
    actor: ActorOpt = None,
    db: DbOpt = None,
) -> None:
    """Record your approval of a plan's hash (you must not be the one who made it)."""
    p = load_plan(plan_file)
    who = default_actor(actor)
    with Ledger.open(db) as ledger:
        seq = approve_plan(ledger, p, who)
    typer.echo(f"plan {p.plan_hash} approved by {who} (ledger entry {seq})")


@app.command()
def apply(
    target: TargetOpt,
    source: Annotated[Path | None, typer.Option("--source", help="HR export.")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Mapping YAML.")] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Execute exactly this reviewed plan.")
    ] = None,
    person: Annotated[
        list[str] | None,
        typer.Option("--person", help="Only this employee id (with a step trace)."),
    ] = None,
    allow_mass_deprovision: Annotated[
        bool, typer.Option("--allow-mass-deprovision", help="Go on above the threshold.")
    ] = False,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    insecure_http: InsecureOpt = False,
    actor: ActorOpt = None,
    today: TodayOpt = None,
    full: FullOpt = False,
    db: DbOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Apply a fresh plan (--source/--mapping) or a reviewed one (--plan plan.json)."""
    if mapping is None:
        raise typer.BadParameter("--mapping is required", param_hint="--mapping")
    if plan_file is None and source is None:
        raise typer.BadParameter("give --source (fresh plan) or --plan", param_hint="--source")
    t = _target(target, config, token_env, insecure_http)
    m = mp.load(mapping)
    src = _source(source, m) if source is not None else None
    bar, update = _progress(not quiet)
    with Ledger.open(db) as ledger:
        rc = RunContext(
            t, m, ledger, default_actor(actor), today=_today(today), progress=update, full=full
        )
        if src is not None:
            refuse_invalid(rc, src, skip_invalid)
        if bar is not None:
            bar.start()
        try:
            result = apply_run(
                rc,
                src,
                plan_file=plan_file,
                allow_mass_deprovision=allow_mass_deprovision,
                only=person,
            )
        finally:
            if bar is not None:
                bar.stop()
    if person:
        for line in result.trace:
            typer.echo(f"step: {line}")
    for f in result.failures:
        typer.echo(f"FAILED {f.operation} {f.external_id or ''}: {f.error}", err=True)
    if result.compensation:
        typer.echo(
            f"compensation ({result.compensation['policy']}): "
            f"{len(result.compensation['actions'])} action(s)",
            err=True,
        )
    typer.echo(_summary(result, "applied"))
    raise typer.Exit(result.exit_code)


@app.command()
def reconcile(
    source: SourceOpt,
    mapping: MappingOpt,
    target: TargetOpt,
    skip_invalid: SkipOpt = False,
    config: ConfigOpt = None,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    insecure_http: InsecureOpt = False,
    actor: ActorOpt = None,
    today: TodayOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Report orphans, attribute drift and membership drift (no writes; fix via plan/apply)."""
    from provisioner.reconcile import reconcile as run_reconcile

    t = _target(target, config, token_env, insecure_http)
    m = mp.load(mapping)
    src = _source(source, m)
    with Ledger.open(db) as ledger:
        rc = RunContext(t, m, ledger, default_actor(actor), today=_today(today))
        refuse_invalid(rc, src, skip_invalid)
        report, _ = run_reconcile(rc, src)
    if fmt is Format.json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report.rows(), fmt, ["kind", "scim_id", "who", "detail"]), nl=False)
    typer.echo(", ".join(f"{k} {v}" for k, v in report.counts.items()), err=True)


@app.command()
def serve(
    mapping: MappingOpt,
    target: TargetOpt,
    secret_env: Annotated[
        str, typer.Option("--secret-env", help="Env var holding the HMAC shared secret.")
    ] = "SCIMTRAIL_WEBHOOK_SECRET",  # noqa: S107 - the name of an env var
    host: Annotated[str, typer.Option(help="Listen address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8088,
    config: ConfigOpt = None,
    token_env: TokenEnvOpt = DEFAULT_TOKEN_ENV,
    insecure_http: InsecureOpt = False,
    db: DbOpt = None,
) -> None:
    """Receive signed HR hire/change/terminate events and apply each one."""
    from provisioner.auth import SecretRef
    from provisioner.webhook import Receiver, apply_event, make_server

    t = _target(target, config, token_env, insecure_http)
    m = mp.load(mapping)
    secret = SecretRef("env", secret_env).load()
    with Ledger.open(db) as ledger:
        receiver = Receiver(ledger, secret, lambda ev: apply_event(ev, t, m, ledger))
        server = make_server(receiver, host, port)
        typer.echo(f"listening on http://{host}:{server.server_address[1]}/events", err=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            receiver.close()
