"""Rendering rows of data for people (table) and programs (json, csv).

Every CLI that prints data takes ``--format table|json|csv`` and calls
:func:`render`. JSON is one document (a list of objects); CSV has a header row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def render(
    rows: Sequence[Mapping[str, Any]],
    fmt: Format | str,
    columns: Sequence[str] | None = None,
    *,
    title: str | None = None,
    max_width: int = 60,
) -> str:
    """Rows as a table, a JSON array or CSV text (ending with a newline)."""
    fmt = Format(fmt)
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt is Format.json:
        data = [{c: r.get(c) for c in cols} for r in rows]
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_cell(r.get(c)) for c in cols])
        return buf.getvalue()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(c, overflow="fold", max_width=max_width)
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    buf = io.StringIO()
    Console(file=buf, width=200, no_color=True, force_terminal=False).print(table)
    return buf.getvalue()
