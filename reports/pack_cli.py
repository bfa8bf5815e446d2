"""`scimtrail report pack` and `scimtrail report verify-pack`.

The two commands are plain functions; ``reports/cli.py`` registers them on the
``report`` Typer app. Each parses arguments, calls one library function and prints.
Exit codes: 0 ok, 1 error, 2 usage, 3 the pack does not verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evidence.ledger import Ledger
from reports.periods import resolve_period


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def pack(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the signed PDF.")],
    period: Annotated[
        str | None, typer.Option("--period", "-p", help="2026-Q3, 2026-H2, 2026-07 or 2026.")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive).")] = None,
    sample: Annotated[
        int | None,
        typer.Option(help="Events to sample per population (default: the documented table)."),
    ] = None,
    seed: Annotated[
        str | None,
        typer.Option(help="Sampling seed; give the auditor's own (default: the period label)."),
    ] = None,
    organisation: Annotated[
        str, typer.Option(help="Entity named on the cover.")
    ] = "Example Organisation",
    system: Annotated[
        str, typer.Option(help="System named on the cover.")
    ] = "Identity provisioning over SCIM 2.0 (scimtrail)",
    recipient: Annotated[str, typer.Option(help="Who the pack is for.")] = "External auditor",
    junit: Annotated[
        Path | None,
        typer.Option(help="Directory of JUnit XML files; those a test.run recorded are attached."),
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            envvar="SCIMTRAIL_CONTROLS", help="Control catalogue directory.", show_default=False
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            envvar="SCIMTRAIL_SIGNING_KEY",
            show_default=False,
            help="Ledger Ed25519 key: signs the checkpoint and the manifest.",
        ),
    ] = None,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            envvar="SCIMTRAIL_PACK_KEY",
            show_default=False,
            help="PEM private key for the PAdES signature of the PDF.",
        ),
    ] = None,
    sign_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="SCIMTRAIL_PACK_CERT",
            show_default=False,
            help="PEM X.509 certificate of that key.",
        ),
    ] = None,
    unsigned: Annotated[
        bool, typer.Option(help="Write an unsigned draft (no PAdES signature).")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SCIMTRAIL_DB",
            show_default=False,
            help="SQLite file path or database URL. Default ./scimtrail.db.",
        ),
    ] = None,
) -> None:
    """Build a signed PDF audit pack for a period, with its raw evidence attached."""
    from reports.pack_build import PackOptions, build_pack  # WeasyPrint, pandas: on demand

    options = PackOptions(
        period=resolve_period(period, start, end),
        seed=seed,
        sample=sample,
        organisation=organisation,
        system=system,
        recipient=recipient,
        catalogue=catalogue,
        junit_dir=junit,
        ledger_key=key,
        pdf_key=sign_key,
        pdf_cert=sign_cert,
        sign_pdf=not unsigned,
    )
    with Ledger.open(db) as ledger:
        result = build_pack(ledger, options, out, progress=lambda m: _err(f"… {m}"))
    t = result.timings
    typer.echo(
        f"pack {result.pack_id} written to {result.out}: {result.pages} pages, "
        f"{result.attachments} attachments, {result.exceptions} exceptions\n"
        f"checkpoint size {result.checkpoint_size}; recorded as ledger entry "
        f"{result.report_seq} (report.generated)\n"
        f"unsigned PDF sha256 {result.unsigned_sha256}\n"
        f"signed PDF sha256   {result.signed_sha256}\n"
        f"manifest sha256     {result.manifest_sha256}\n"
        f"time: queries {t.get('queries', 0):.1f}s, assembly {t.get('assembly', 0):.1f}s, "
        f"rendering {t.get('rendering', 0):.1f}s, signing {t.get('signing', 0):.1f}s"
    )


def verify_pack(
    pdf: Annotated[Path, typer.Argument(help="The audit pack PDF.")],
    pubkey: Annotated[
        Path | None,
        typer.Option(help="Your copy of the ledger public key (PEM); checks the pack's origin."),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(help="Your copy of the signer's certificate (PEM) for the PDF signature."),
    ] = None,
    allow_unsigned: Annotated[
        bool, typer.Option(help="Accept a draft without a PDF signature.")
    ] = False,
) -> None:
    """Check an audit pack offline; exit 3 naming the first thing that does not match."""
    from reports.verify_pack import verify_pack as run_verify_pack

    result = run_verify_pack(
        pdf, pubkey=pubkey, cert=cert, allow_unsigned=allow_unsigned, say=typer.echo
    )
    typer.echo(f"VERIFIED: pack {result.pack_id} ({len(result.checks)} checks passed)")


__all__ = ["pack", "verify_pack"]
