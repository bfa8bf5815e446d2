"""Jinja2 rendering of the pack's HTML (autoescaped, undefined names are errors).

Templates and the stylesheet live in ``templates/`` at the repository root (data, not
code). :func:`render` is the only entry point; filters format numbers, hashes and
timestamps the same way everywhere in the pack.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _short(value: Any, n: int = 16) -> str:
    text = str(value or "")
    return text if len(text) <= n else text[:n] + "…"


def _when(ts: Any) -> str:
    """``2026-12-03T16:40:50.123456Z`` → ``2026-12-03 16:40:50 UTC``."""
    text = str(ts or "")
    if len(text) >= 19 and text[10] == "T":
        return f"{text[:10]} {text[11:19]} UTC"
    return text or "–"


def _wrap(value: Any, n: int = 32) -> Markup:
    """Long hashes and ids: allow line breaks every n characters."""
    text = str(value or "")
    parts = [text[i : i + n] for i in range(0, len(text), n)] or [""]
    return Markup("<wbr>").join(parts)


def environment(directory: Path = TEMPLATES) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(num=_num, short=_short, when=_when, wrap=_wrap)
    return env


def render(template: str, context: Mapping[str, Any], directory: Path = TEMPLATES) -> str:
    """Render ``template`` with ``context``; a missing name raises (StrictUndefined)."""
    return environment(directory).get_template(template).render(**context)


def trusted_svg(svg: str) -> Markup:
    """Mark SVG produced by :mod:`reports.charts` (numbers and fixed text only) as safe."""
    return Markup(svg)  # noqa: S704 - built from numbers and constant strings in charts.py


__all__ = ["TEMPLATES", "environment", "render", "trusted_svg"]
