"""Charts for the audit pack, drawn as inline SVG text (no network, no plotting library).

The output is deterministic: the same numbers give the same bytes, which keeps the
unsigned PDF reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

_W, _H = 640, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 24, 46
_OK, _LATE, _INK, _GRID = "#3b7a57", "#b03a2e", "#222222", "#d9d9d9"
_CAP = 10  # lags of this many business days or more share the last bar


def lag_histogram(lags: Sequence[int], sla: int, *, title: str) -> str:
    """Leavers per business day of lag as bars; the SLA as a dashed line after its bar."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">'
    )
    font = '<g font-family="Noto Sans, DejaVu Sans, sans-serif" font-size="10">'
    if not lags:
        return (
            head + font + f'<text x="{_W // 2}" y="{_H // 2}" text-anchor="middle" '
            f'font-size="13" fill="{_INK}">No deactivations in the period: nothing to plot.'
            "</text></g></svg>"
        )
    last = min(_CAP, max(max(lags), sla + 3))
    counts = [0] * (last + 1)
    for lag in lags:
        counts[min(max(lag, 0), last)] += 1
    ymax = max(counts)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    bar_w = plot_w / len(counts)
    parts = [head, font]
    for tick in range(5):
        value = math.ceil(ymax * tick / 4)
        y = _TOP + plot_h - plot_h * value / ymax
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="{_GRID}"/>'
            f'<text x="{_LEFT - 6}" y="{y + 3:.1f}" text-anchor="end" fill="{_INK}">{value}</text>'
        )
    for i, count in enumerate(counts):
        x = _LEFT + i * bar_w
        h = plot_h * count / ymax
        colour = _LATE if i > sla else _OK
        parts.append(
            f'<rect x="{x + 3:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar_w - 6:.1f}" '
            f'height="{h:.1f}" fill="{colour}"/>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{_TOP + plot_h - h - 3:.1f}" '
                f'text-anchor="middle" fill="{_INK}">{count}</text>'
            )
        label = f"≥{i}" if i == last and last == _CAP else str(i)
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{_TOP + plot_h + 14}" text-anchor="middle" '
            f'fill="{_INK}">{label}</text>'
        )
    sla_x = _LEFT + bar_w * (sla + 1)
    parts.append(
        f'<line x1="{sla_x:.1f}" y1="{_TOP - 8}" x2="{sla_x:.1f}" y2="{_TOP + plot_h}" '
        f'stroke="{_INK}" stroke-width="1.5" stroke-dasharray="5,3"/>'
        f'<text x="{sla_x + 4:.1f}" y="{_TOP - 10}" fill="{_INK}">SLA: {sla} business '
        f"day{'s' if sla != 1 else ''}</text>"
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W - _RIGHT}" y2="{_TOP + plot_h}" '
        f'stroke="{_INK}"/>'
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_H - 12}" text-anchor="middle" fill="{_INK}">'
        "business days from the HR effective date to the successful SCIM deactivation "
        "(red: beyond the SLA)</text></g></svg>"
    )
    return "".join(parts)


__all__ = ["lag_histogram"]
