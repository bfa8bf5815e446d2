"""The umbrella ``scimtrail`` command: mounts each package's Typer app.

Nothing imports this module. Errors from the packages derive from
``ScimtrailError``; this is the one place that turns them into a message on
stderr and an exit code (1 error, 2 usage, 3 integrity failure).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from evidence.cli import app as ledger_app
from evidence.collectors.cli import app as evidence_app
from evidence.errors import ScimtrailError
from provisioner.cli import app as provision_app
from reports.cli import controls_app, report_app

app = typer.Typer(
    name="scimtrail",
    help="Provision identities over SCIM 2.0 and prove it: an append-only evidence ledger, "
    "coverage reports and signed audit packs for NCA ECC 2-2-3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(ledger_app, name="ledger")
app.add_typer(provision_app, name="provision")
app.add_typer(evidence_app, name="evidence")
app.add_typer(report_app, name="report")
app.add_typer(controls_app, name="controls")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="scimtrail")
    except SystemExit as exc:  # Typer exits on its own for --help and usage errors (2)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ScimtrailError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def entry() -> None:
    sys.exit(main())
