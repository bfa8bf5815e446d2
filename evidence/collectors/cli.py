"""`scimtrail evidence …`: record git commits, test runs and deployments in the ledger.

Parses arguments, calls one collector, prints what it recorded. Every collector is
idempotent (a rerun adds nothing) and all-or-nothing (bad input records nothing,
exit 1 with the reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evidence.cli import DbOpt
from evidence.collectors.deploy import record_deploy
from evidence.collectors.git import collect_git
from evidence.collectors.junit import record_junit
from evidence.ledger import Ledger

app = typer.Typer(
    help="Collect evidence into the ledger: git commits of the provisioning config, test runs, "
    "deployments. Running a collector twice adds nothing.",
    no_args_is_help=True,
)

RepoOpt = Annotated[
    Path,
    typer.Option("--repo", help="The git repository of the provisioning code and config."),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(help="Who records this (default: $SCIMTRAIL_ACTOR, the CI user, 'collector')."),
]


@app.command("git")
def git_cmd(
    repo: RepoOpt = Path("."),
    paths: Annotated[
        list[str] | None,
        typer.Option(
            "--paths",
            help="Only commits touching these paths (repeat, or list them after one --paths).",
        ),
    ] = None,
    extra: Annotated[
        list[str] | None, typer.Argument(help="More paths (same as --paths).", show_default=False)
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only commits after this date (2026-07-01, '3 months ago').")
    ] = None,
    rev: Annotated[str, typer.Option(help="Walk history from this revision.")] = "HEAD",
    actor: ActorOpt = None,
    db: DbOpt = None,
) -> None:
    """Record commits touching the provisioning code and config (sha, author, files, approvals)."""
    wanted = [*(paths or []), *(extra or [])]
    with Ledger.open(db) as ledger:
        done = collect_git(ledger, repo, paths=wanted, since=since, rev=rev, actor=actor)
    typer.echo(done.describe())


@app.command("tests")
def junit_cmd(
    junit_xml: Annotated[Path, typer.Argument(help="JUnit XML report (pytest --junitxml=FILE).")],
    commit: Annotated[str, typer.Option(help="The commit that was tested (sha).")],
    repo: RepoOpt = Path("."),
    suite: Annotated[
        str | None, typer.Option(help="Suite name (default: from the report).")
    ] = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a test run from a JUnit XML report, tied to the commit it tested."""
    with Ledger.open(db) as ledger:
        done = record_junit(ledger, junit_xml, commit, repo=repo, suite=suite, actor=actor)
    typer.echo(done.describe())


@app.command("deploy")
def deploy_cmd(
    env: Annotated[str, typer.Option(help="Environment deployed to (prod, staging, …).")],
    commit: Annotated[str, typer.Option(help="The commit deployed (sha).")],
    job_url: Annotated[str, typer.Option(help="URL of the CI/CD job that deployed it.")],
    at: Annotated[
        str | None, typer.Option(help="When it was deployed (ISO 8601; default: now).")
    ] = None,
    repo: RepoOpt = Path("."),
    actor: ActorOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a deployment of a provisioning commit."""
    with Ledger.open(db) as ledger:
        done = record_deploy(ledger, env, commit, job_url, repo=repo, deployed_at=at, actor=actor)
    typer.echo(done.describe())
