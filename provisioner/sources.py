"""HR sources: CSV, JSON and JSON Lines exports, validated against the mapping.

A record is a ``dict`` of column → string. Bad rows (missing employee id, duplicate
employee id, invalid email, unknown status, a date that is not a date, a missing
required column) become :class:`Rejection` values naming file, row and field; the
caller decides whether to refuse the run (the default) or to skip them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from provisioner.errors import InvalidRows, SourceError
from provisioner.mapping import MappingFile

Record = dict[str, str]
# Deliberately simple: one @, a dot in the domain, no spaces. RFC 5322 in full is not the goal.
_EMAIL = re.compile(r"^[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;.]{2,}$")


#: The columns of a BambooHR-style HR export, as in examples/hr.csv; examples/mapping.yaml
#: reads these, and the demo, the tests and the benchmarks generate files with them.
EXAMPLE_COLUMNS = (
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "department",
    "job_title",
    "status",
    "hire_date",
    "termination_date",
    "manager_id",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    file: str
    row: int
    field: str
    value: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        shown = "" if self.value is None else f" {self.value!r}"
        return f"{self.file}:{self.row}: {self.field}{shown}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    sha256: str
    records: list[Record]
    rejected: list[Rejection]

    @property
    def rows(self) -> int:
        return len(self.records) + len({(r.file, r.row) for r in self.rejected})

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "rows": self.rows,
            "rejected": len({(r.file, r.row) for r in self.rejected}),
        }

    def require_valid(self, skip_invalid: bool) -> None:
        if self.rejected and not skip_invalid:
            raise InvalidRows(self.path, [str(r) for r in self.rejected])


def _strings(obj: Mapping[str, Any]) -> Record:
    out: Record = {}
    for k, v in obj.items():
        if v is None:
            out[str(k)] = ""
        elif isinstance(v, bool):
            out[str(k)] = "true" if v else "false"
        else:
            out[str(k)] = str(v).strip()
    return out


def _rows(path: Path, data: bytes) -> tuple[Iterator[tuple[int, Record]], list[str] | None]:
    """(row number, record) pairs, and the CSV header when there is one."""
    suffix = path.suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), f"not UTF-8 (byte {exc.start})") from exc
    if suffix in (".jsonl", ".ndjson"):

        def lines() -> Iterator[tuple[int, Record]]:
            for n, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(str(path), f"line {n} is not JSON: {exc.msg}") from exc
                if not isinstance(obj, dict):
                    raise SourceError(str(path), f"line {n} is not a JSON object")
                yield n, _strings(obj)

        return lines(), None
    if suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(str(path), f"not JSON: {exc.msg} at line {exc.lineno}") from exc
        if isinstance(doc, dict):
            for key in ("employees", "records", "data", "items"):
                if isinstance(doc.get(key), list):
                    doc = doc[key]
                    break
        if not isinstance(doc, list) or not all(isinstance(x, dict) for x in doc):
            raise SourceError(str(path), "expected a JSON array of objects (or {employees: [...]})")
        return ((i, _strings(o)) for i, o in enumerate(doc, start=1)), None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SourceError(str(path), "the file is empty (no header row)") from None

    def csv_rows() -> Iterator[tuple[int, Record]]:
        for n, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            yield n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}

    return csv_rows(), header


def validate(
    m: MappingFile, rows: Iterable[tuple[int, Record]], file: str
) -> tuple[list[Record], list[Rejection]]:
    spec = m.source
    statuses = m.lifecycle.statuses
    records: list[Record] = []
    rejected: list[Rejection] = []
    first_row: dict[str, int] = {}
    for n, rec in rows:
        bad: list[Rejection] = []
        key = rec.get(spec.key, "")
        if not key:
            bad.append(Rejection(file, n, spec.key, None, "missing employee id"))
        elif key in first_row:
            bad.append(
                Rejection(
                    file, n, spec.key, key, f"duplicate employee id (first on row {first_row[key]})"
                )
            )
        for col in spec.required:
            if col != spec.key and not rec.get(col):
                bad.append(Rejection(file, n, col, None, "required value is missing"))
        status = rec.get(spec.status, "")
        if status not in statuses:
            bad.append(
                Rejection(
                    file,
                    n,
                    spec.status,
                    status,
                    f"unknown status (known: {', '.join(sorted(statuses))})",
                )
            )
        for col in spec.emails:
            v = rec.get(col, "")
            if v and not _EMAIL.match(v):
                bad.append(Rejection(file, n, col, v, "not a valid email address"))
        for col in spec.dates:
            v = rec.get(col, "")
            if not v:
                continue
            try:
                parsed = datetime.strptime(v, spec.date_format).date()
            except ValueError:
                bad.append(Rejection(file, n, col, v, f"not a date ({spec.date_format})"))
            else:
                rec[col] = parsed.isoformat()
        if bad:
            rejected.extend(bad)
        else:
            first_row[key] = n
            records.append(rec)
    return records, rejected


def read(path: str | Path, m: MappingFile) -> Source:
    """Read and validate an HR export (CSV, .json or .jsonl/.ndjson)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SourceError(str(p), f"cannot read: {exc.strerror}") from exc
    rows, header = _rows(p, data)
    if header is not None:
        missing = sorted(c for c in m.columns if c not in header)
        if missing:
            raise SourceError(
                str(p),
                f"column(s) {', '.join(missing)} used by mapping {m.path} are not in the "
                f"header ({', '.join(header)})",
            )
    records, rejected = validate(m, rows, p.name)
    return Source(str(p), hashlib.sha256(data).hexdigest(), records, rejected)


def from_records(records: Iterable[Mapping[str, Any]], m: MappingFile, name: str) -> Source:
    """A source from records already in memory (webhook events, tests)."""
    items = [(i, _strings(r)) for i, r in enumerate(records, start=1)]
    blob = json.dumps([r for _, r in items], sort_keys=True).encode()
    recs, rejected = validate(m, items, name)
    return Source(name, hashlib.sha256(blob).hexdigest(), recs, rejected)
