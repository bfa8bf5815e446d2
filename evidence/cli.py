"""`scimtrail ledger …`: create, append to, read, verify, checkpoint, prove and export.

Parses arguments, calls one library function, prints. Exit codes: 0 ok, 1 error
(the diagnostics say what to do), 2 usage, 3 integrity failure.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence import checkpoint as cpmod
from evidence.errors import InvalidInput
from evidence.ledger import Ledger
from evidence.output import Format, render

app = typer.Typer(
    help="The evidence ledger: append-only, hash-chained, with signed checkpoints and proofs.",
    no_args_is_help=True,
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SCIMTRAIL_DB",
        help="SQLite file path or database URL (postgresql://…). Default ./scimtrail.db.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="SCIMTRAIL_SIGNING_KEY",
        help="Ed25519 signing key (PEM); created on first use. "
        "Default ~/.config/scimtrail/ledger-ed25519.pem.",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def default_actor() -> str:
    for var in ("SCIMTRAIL_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.command()
def init(db: DbOpt = None) -> None:
    """Create the ledger, or bring an existing one to the latest schema revision."""
    before, after, ledger_id = Ledger.init(db)
    if before == after:
        typer.echo(f"ledger {ledger_id} already at revision {after}")
    else:
        typer.echo(f"ledger {ledger_id} at revision {after} (was {before or 'empty'})")


@app.command()
def append(
    kind: Annotated[str, typer.Option(help="Entry kind, e.g. note, access_review.signoff.")],
    json_payload: Annotated[
        str, typer.Option("--json", help="The payload as a JSON object, or @FILE to read one.")
    ],
    actor: Annotated[str | None, typer.Option(help="Who records this (default: you).")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Run id to file it under.")] = None,
    db: DbOpt = None,
) -> None:
    """Record manual evidence, such as an access-review sign-off."""
    payload = _parse_json(json_payload)
    with Ledger.open(db) as ledger:
        out = ledger.append(kind, payload, actor=actor or default_actor(), run_id=run_id)
    typer.echo(f"appended seq {out.seq} link {out.link}")


def _parse_json(value: str) -> Any:
    source = "--json"
    if value.startswith("@"):
        source = value[1:]
        try:
            value = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {source}: {exc}") from exc
    try:
        payload = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(payload, dict):
        raise InvalidInput(f"{source} must be a JSON object, got {type(payload).__name__}")
    return payload


@app.command()
def show(
    seq: Annotated[int | None, typer.Option(help="Only this entry.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only entries of this kind.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only entries of this run.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 100,
    fmt: FormatOpt = Format.table,
    db: DbOpt = None,
) -> None:
    """List entries (filtered by seq, kind or run)."""
    with Ledger.open(db) as ledger:
        rows = [e.as_dict() for e in ledger.entries(seq=seq, kind=kind, run_id=run_id, limit=limit)]
    if seq is not None and not rows:
        raise InvalidInput(f"there is no entry with seq {seq}")
    cols = ["seq", "ts", "kind", "actor", "run_id", "ref", "payload"]
    if fmt is not Format.table:
        cols += ["payload_hash", "link", "erased_by"]
    typer.echo(render(rows, fmt, cols), nl=False)


@app.command()
def verify(
    db: DbOpt = None,
    export: Annotated[
        Path | None, typer.Option(help="Verify an export file instead of a database.")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A checkpoint kept elsewhere; the ledger must still match it."),
    ] = None,
    pubkey: Annotated[
        Path | None, typer.Option(help="Public key that must have signed every checkpoint.")
    ] = None,
) -> None:
    """Recompute every hash and link; exit 3 naming the first bad seq on tampering."""
    cps = [cpmod.read_file(p) for p in checkpoint or []]
    key = cpmod.load_public_key(pubkey) if pubkey else None
    if export is not None:
        from evidence.export import verify_export

        result = verify_export(export, cps, key)
    else:
        from rich.progress import Progress

        with (
            Ledger.open(db) as ledger,
            Progress(transient=True, disable=not sys.stderr.isatty()) as bar,
        ):
            task = bar.add_task("verifying", total=ledger.head().size)
            result = ledger.verify(cps, key, progress=lambda n: bar.advance(task, n))
    extra = []
    if result.erased:
        extra.append(f"{result.erased} payloads erased")
    if result.checkpoints_checked:
        extra.append(f"{result.checkpoints_checked} checkpoints in the chain")
    if result.checked_roots:
        extra.append(f"matches {len(result.checked_roots)} supplied checkpoint(s)")
    tail = f" ({'; '.join(extra)})" if extra else ""
    typer.echo(f"OK: {result.size} entries, head {result.head_hex}{tail}")


@app.command()
def checkpoint(
    out: Annotated[
        Path | None, typer.Option(help="Write the signed checkpoint here (default: stdout).")
    ] = None,
    key: KeyOpt = None,
    db: DbOpt = None,
) -> None:
    """Sign the current head (C2SP checkpoint, Ed25519) and record it in the ledger."""
    signing_key = cpmod.load_or_create_key(key or cpmod.default_key_path())
    with Ledger.open(db) as ledger:
        cp = ledger.checkpoint(signing_key, actor=default_actor())
    if out is None:
        typer.echo(cp.note, nl=False)
    else:
        out.write_text(cp.note, encoding="utf-8")
        typer.echo(f"checkpoint of size {cp.size} written to {out}", err=True)


@app.command()
def pubkey(
    out: Annotated[Path | None, typer.Option(help="Write the PEM here (default: stdout).")] = None,
    key: KeyOpt = None,
) -> None:
    """Export the public key that verifies checkpoints (PEM), with its fingerprint."""
    signing_key = cpmod.load_or_create_key(key or cpmod.default_key_path())
    pem = cpmod.public_pem(signing_key).decode()
    if out is None:
        typer.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="utf-8")
    typer.echo(f"fingerprint {cpmod.fingerprint(signing_key.public_key())}", err=True)
    typer.echo(
        f"note verifier key {cpmod.verifier_key(cpmod.KEY_NAME, signing_key.public_key())}",
        err=True,
    )


@app.command()
def prove(
    seq: Annotated[
        int | None, typer.Option(help="Prove that this entry is in --checkpoint.")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="The checkpoint the inclusion proof is against.")
    ] = None,
    from_cp: Annotated[
        Path | None, typer.Option("--from", help="Older checkpoint (consistency proof).")
    ] = None,
    to_cp: Annotated[
        Path | None, typer.Option("--to", help="Newer checkpoint (consistency proof).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the proof here (default: stdout).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Make an inclusion proof (--seq N --checkpoint FILE) or a consistency proof
    (--from FILE --to FILE), verifiable offline with `verify-proof`."""
    from evidence import proofs

    inclusion_mode = seq is not None or checkpoint is not None
    consistency_mode = from_cp is not None or to_cp is not None
    if inclusion_mode == consistency_mode:
        raise InvalidInput(
            "give either --seq N --checkpoint FILE (inclusion) or --from FILE --to FILE "
            "(consistency)"
        )
    with Ledger.open(db) as ledger:
        if inclusion_mode:
            if seq is None or checkpoint is None:
                raise InvalidInput("an inclusion proof needs both --seq and --checkpoint")
            proof = proofs.inclusion(ledger, seq, cpmod.read_file(checkpoint))
        else:
            if from_cp is None or to_cp is None:
                raise InvalidInput("a consistency proof needs both --from and --to")
            proof = proofs.consistency(ledger, cpmod.read_file(from_cp), cpmod.read_file(to_cp))
    text = proofs.write(proof, out)
    if out is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"{proof['type']} proof written to {out}", err=True)


@app.command("verify-proof")
def verify_proof(
    proof_file: Annotated[Path, typer.Argument(help="A proof file made by `prove`.")],
    pubkey: Annotated[
        Path | None, typer.Option(help="Public key the checkpoints must be signed with.")
    ] = None,
) -> None:
    """Check a proof file offline (no database); exit 3 if it does not verify."""
    from evidence import proofs

    key = cpmod.load_public_key(pubkey) if pubkey else None
    message = proofs.verify(proofs.read(proof_file), key)
    note = "" if key else " (signatures not checked: no --pubkey)"
    typer.echo(f"OK: {message}{note}")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="The JSON Lines file to write.")],
    since: Annotated[
        str | None,
        typer.Option(help="First timestamp to include (ISO 8601, UTC), e.g. 2026-07-01."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Exclude entries from this timestamp on, e.g. 2026-10-01.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Export entries for an auditor (verify with `ledger verify --export FILE`)."""
    from rich.progress import Progress

    from evidence.export import export as do_export

    with (
        Ledger.open(db) as ledger,
        Progress(transient=True, disable=not sys.stderr.isatty()) as bar,
    ):
        task = bar.add_task("exporting", total=ledger.head().size)
        summary = do_export(
            ledger, out, since=since, until=until, progress=lambda n: bar.advance(task, n)
        )
    typer.echo(
        f"exported entries {summary.first_seq}..{summary.last_seq} ({summary.count}) to {out}; "
        f"root {summary.root}"
    )


@app.command()
def erase(
    seq: Annotated[int, typer.Option(help="The entry whose payload must be erased.")],
    reason: Annotated[str, typer.Option(help="Why (e.g. the privacy request reference).")],
    actor: Annotated[
        str | None, typer.Option(help="Who orders the erasure (default: you).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Erase an entry's personal data; the chain still verifies and the erasure is recorded."""
    with Ledger.open(db) as ledger:
        out = ledger.erase(seq, reason=reason, actor=actor or default_actor())
    typer.echo(f"payload of seq {seq} erased; erasure recorded as seq {out.seq}")
