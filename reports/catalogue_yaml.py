"""YAML reading for the catalogue: every mapping remembers the line it starts on.

Duplicate keys are refused (PyYAML silently keeps the last one, which would let a
typo hide a requirement). Parse errors become :class:`CatalogueSyntaxError` with
the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reports.errors import CatalogueSyntaxError


class LineDict(dict[str, Any]):
    """A dict from YAML that knows its 1-based line in the file."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    out = LineDict({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path) -> Any:
    """Parse one catalogue file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueSyntaxError(path, None, f"cannot read the file: {exc}") from exc
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise CatalogueSyntaxError(path, line, f"invalid YAML: {reason}") from exc
    except yaml.YAMLError as exc:
        raise CatalogueSyntaxError(path, None, f"invalid YAML: {exc}") from exc


def line_of(value: Any, default: int | None = None) -> int | None:
    return value.line if isinstance(value, LineDict) else default
