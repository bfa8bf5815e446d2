"""Export the ledger as JSON Lines for auditors, and verify an export with no database.

Format (``scimtrail-ledger-export`` version 1), one JSON object per line:

* line 1, the header: ``{"type": "header", "format": "scimtrail-ledger-export",
  "version": 1, "ledger_id", "origin", "first_seq", "last_seq", "prev_link" (hex link of
  first_seq - 1, or 64 zeros), "frontier" (hex Merkle subtree roots covering entries
  1..first_seq-1, largest first), "exported_at", "since", "until"}``
* one line per entry: ``{"type": "entry", "seq", "ts", "kind", "actor", "run_id", "ref",
  "payload_hash" (hex), "entry" (the canonical envelope, as a string), "leaf", "prev",
  "link" (hex), "salt" (hex or null), "payload" (the canonical payload bytes as a UTF-8
  string, or null when erased), "erased_by"}``
* the last line, the footer: ``{"type": "footer", "count", "head_link", "root"}`` where
  root is the Merkle root of entries 1..last_seq.

A verifier recomputes everything from the entry lines; the header's prev_link and
frontier are claims that a checkpoint inside (or supplied for) the range confirms.
docs/ledger-format.md is the normative description.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from evidence import checkpoint as cpmod
from evidence.chain import GENESIS, ChainVerifier, ExpectedRoot, Row, VerifyResult
from evidence.errors import CheckpointMismatch, Fault, InvalidInput, LedgerTampered
from evidence.ledger import Ledger, utc_now
from evidence.merkle import Frontier

FORMAT = "scimtrail-ledger-export"
VERSION = 1


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    first_seq: int
    last_seq: int
    count: int
    head_link: str
    root: str


def _seq_range(ledger: Ledger, since: str | None, until: str | None) -> tuple[int, int]:
    size = ledger.head().size
    if since is None and until is None:
        return 1, size
    with contextlib.closing(ledger.entries(since=since, until=until, limit=1)) as found:
        first = next(found, None)
    if first is None:
        raise InvalidInput(f"no entries between {since or 'the start'} and {until or 'now'}")
    last = first.seq
    with contextlib.closing(ledger.entries(since=since, until=until, after_seq=first.seq)) as rest:
        for e in rest:
            if e.seq != last + 1:
                break  # timestamps are claims: keep the contiguous run starting at `first`
            last = e.seq
    return first.seq, last


def export(
    ledger: Ledger,
    out: Path,
    *,
    since: str | None = None,
    until: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write entries (all, or those from ``since`` up to before ``until``) to ``out``.

    The file appears only when complete (written as ``out.partial``, then renamed).
    """
    first, last = _seq_range(ledger, since, until)
    tmp = out.with_name(out.name + ".partial")
    try:
        fh = tmp.open("wb")
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}") from exc
    with fh:
        summary = write_export(
            ledger, fh, first, last, exported_at=utc_now(), since=since, until=until,
            progress=progress,
        )  # fmt: skip
    tmp.replace(out)
    return dataclasses.replace(summary, path=out)


def write_export(
    ledger: Ledger,
    fh: IO[bytes],
    first: int,
    last: int,
    *,
    exported_at: str,
    since: str | None = None,
    until: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write entries ``first..last`` in the export format to a binary stream.

    The same ledger, range and ``exported_at`` always give the same bytes (the audit
    pack relies on it for reproducible PDFs).
    """
    if first > 1:
        prev = ledger.row(first - 1).link
        frontier = _frontier_before(ledger, first - 1)
    else:
        prev, frontier = GENESIS, Frontier()
    header = {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "ledger_id": ledger.ledger_id,
        "origin": ledger.origin,
        "first_seq": first,
        "last_seq": last,
        "prev_link": prev.hex(),
        "frontier": [n.hex() for n in frontier.nodes],
        "exported_at": exported_at,
        "since": since,
        "until": until,
    }
    fh.write(orjson.dumps(header) + b"\n")
    count = 0
    link = prev
    for row in ledger.rows(first, last):
        fh.write(orjson.dumps(row_to_json(row)) + b"\n")
        frontier.append(row.leaf)
        link = row.link
        count += 1
        if progress is not None and count % 10000 == 0:
            progress(10000)
    root = frontier.root()
    footer = {"type": "footer", "count": count, "head_link": link.hex(), "root": root.hex()}
    fh.write(orjson.dumps(footer) + b"\n")
    if progress is not None:
        progress(count % 10000)
    return ExportSummary(Path(getattr(fh, "name", "-")), first, last, count, link.hex(), root.hex())


def _frontier_before(ledger: Ledger, size: int) -> Frontier:
    """The compact range of entries 1..size, from stored nodes and leaves."""
    nodes = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        width = 1 << bit
        if size & width:
            nodes.append(ledger.subtree(start, start + width))
            start += width
    return Frontier(size, nodes)


def row_to_json(row: Row) -> dict[str, Any]:
    return {
        "type": "entry",
        "seq": row.seq,
        "ts": row.ts,
        "kind": row.kind,
        "actor": row.actor,
        "run_id": row.run_id,
        "ref": row.ref,
        "payload_hash": row.payload_hash.hex(),
        "entry": row.entry.decode("utf-8"),
        "leaf": row.leaf.hex(),
        "prev": row.prev.hex(),
        "link": row.link.hex(),
        "salt": row.salt.hex() if row.salt is not None else None,
        "payload": row.body.decode("utf-8") if row.body is not None else None,
        "erased_by": row.erased_by,
    }


def _hex(obj: dict[str, Any], key: str, where: str, *, nullable: bool = False) -> bytes | None:
    value = obj.get(key)
    if value is None and nullable:
        return None
    try:
        return bytes.fromhex(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: field {key!r} is not hex") from exc


def json_to_row(obj: dict[str, Any], where: str) -> Row:
    try:
        salt = _hex(obj, "salt", where, nullable=True)
        payload = obj["payload"]
        return Row(
            int(obj["seq"]),
            obj["ts"],
            obj["kind"],
            obj["actor"],
            obj["run_id"],
            obj["ref"],
            _hex(obj, "payload_hash", where) or b"",
            obj["entry"].encode("utf-8"),
            _hex(obj, "leaf", where) or b"",
            _hex(obj, "prev", where) or b"",
            _hex(obj, "link", where) or b"",
            salt,
            payload.encode("utf-8") if payload is not None else None,
            obj["erased_by"],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidInput(f"{where}: not a ledger entry line ({exc})") from exc


def _read(path: Path) -> Generator[tuple[int, dict[str, Any]], None, None]:
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read export {path}: {exc.strerror}") from exc
    with fh:
        for n, line in enumerate(fh, 1):
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"{path} line {n}: not JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise InvalidInput(f"{path} line {n}: expected a JSON object")
            yield n, obj


def verify_export(
    path: Path,
    checkpoints: Iterable[cpmod.Checkpoint] = (),
    pubkey: Any = None,
) -> VerifyResult:
    """Verify an export file offline; raises IntegrityError subclasses on tampering."""
    with contextlib.closing(_read(path)) as lines:
        return _verify_lines(path, lines, checkpoints, pubkey)


def _verify_lines(
    path: Path,
    lines: Iterator[tuple[int, dict[str, Any]]],
    checkpoints: Iterable[cpmod.Checkpoint],
    pubkey: Any,
) -> VerifyResult:
    first_line = next(lines, None)
    if first_line is None or first_line[1].get("type") != "header":
        raise InvalidInput(f"{path} does not start with a scimtrail export header")
    header = first_line[1]
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise InvalidInput(f"{path} is not a {FORMAT} version {VERSION} file")
    origin = header.get("origin")
    expected = []
    for cp in checkpoints:
        if cp.origin != origin:
            raise CheckpointMismatch(
                Fault.REWRITTEN, f"checkpoint is for {cp.origin!r}, the export for {origin!r}"
            )
        if pubkey is not None:
            cpmod.verify(cp, pubkey)
        expected.append(ExpectedRoot(cp.size, cp.root, f"checkpoint of size {cp.size}"))
    first = int(header["first_seq"])
    frontier = Frontier(first - 1, [bytes.fromhex(h) for h in header["frontier"]])
    for exp in expected:
        if exp.size < first - 1:
            raise InvalidInput(
                f"the checkpoint of size {exp.size} lies before this export (from seq {first}); "
                "verify it against a full export"
            )
    verifier = ChainVerifier(
        expected,
        start=first,
        prev_link=bytes.fromhex(header["prev_link"]),
        frontier=frontier,
        checkpoint_check=cpmod.in_chain_checker(pubkey, origin),
    )
    footer: dict[str, Any] | None = None

    def rows() -> Iterator[Row]:
        nonlocal footer
        for n, obj in lines:
            if footer is not None:
                raise InvalidInput(f"{path} line {n}: data after the footer")
            if obj.get("type") == "footer":
                footer = obj
                continue
            yield json_to_row(obj, f"{path} line {n}")

    result = verifier.run(rows())
    if footer is None:
        raise CheckpointMismatch(
            Fault.TRUNCATED, f"{path} has no footer: the file was cut short", seq=result.size + 1
        )
    if footer.get("count") != result.size - (first - 1):
        raise LedgerTampered(
            result.size, Fault.ENTRY_MISSING, "the footer counts a different number of entries"
        )
    if footer.get("root") != result.root.hex() or footer.get("head_link") != result.head_hex:
        raise LedgerTampered(result.size, Fault.ENTRY_CHANGED, "the footer's head does not match")
    if header.get("last_seq") != result.size:
        raise CheckpointMismatch(
            Fault.TRUNCATED,
            f"header promises entries up to {header.get('last_seq')}, file ends at {result.size}",
            seq=result.size + 1,
        )
    return result
