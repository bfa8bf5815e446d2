"""Errors raised by the reporting layer (catalogue, periods, coverage, metrics).

All derive from :class:`evidence.errors.ScimtrailError`; the CLI prints
``diagnostics()`` and exits 1. Leaf errors take the offending file, line and value
and build the message from them.

The tree::

    ScimtrailError                      (evidence.errors)
    └── ReportError                     reporting problems the user can fix
        ├── CatalogueError              controls/ is invalid: file, line, reason
        │   ├── CatalogueSyntaxError    a YAML file does not parse
        │   ├── UnknownReference        a mapping/rule names an id that does not exist
        │   ├── CompositionCycle        all_of/any_of rules refer to each other in a loop
        │   └── EmptyComposition        all_of: [] or any_of: [] (refused: proves nothing)
        ├── BadPeriod                   --period/--from/--to cannot be understood
        ├── UnknownFramework            --framework is not in the catalogue
        └── UnknownId                   --explain names no requirement or control
"""

from __future__ import annotations

from pathlib import Path

from evidence.errors import ScimtrailError


class ReportError(ScimtrailError):
    """A reporting problem the user can act on."""


class CatalogueError(ReportError):
    """The control catalogue is invalid; the message names file, line and reason."""

    def __init__(self, file: Path | str, line: int | None, reason: str) -> None:
        where = f"{file}:{line}" if line is not None else str(file)
        super().__init__(
            f"{where}: {reason}",
            "fix the catalogue file, then run `scimtrail controls check`",
        )
        self.file = str(file)
        self.line = line
        self.reason = reason


class CatalogueSyntaxError(CatalogueError):
    """A catalogue file is not valid YAML."""


class UnknownReference(CatalogueError):
    """A mapping or rule refers to an id that is not defined."""


class CompositionCycle(CatalogueError):
    """Evidence rules compose each other in a loop."""


class EmptyComposition(CatalogueError):
    """``all_of: []`` would be vacuously true; ``any_of: []`` never true. Both refused."""


class BadPeriod(ReportError):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(
            f"cannot understand the period {value!r}: {reason}",
            "use --period 2026-Q3 (or 2026, 2026-H2, 2026-07), or --from 2026-07-01 --to "
            "2026-09-30 (inclusive dates)",
        )
        self.value = value


class UnknownFramework(ReportError):
    def __init__(self, value: str, known: list[str]) -> None:
        super().__init__(
            f"unknown framework {value!r}",
            "choose one of: " + ", ".join(known),
        )
        self.value = value


class UnknownId(ReportError):
    def __init__(self, value: str) -> None:
        super().__init__(
            f"{value!r} is neither a requirement nor an internal control in the catalogue",
            "list the ids with `scimtrail report coverage --format csv`",
        )
        self.value = value
