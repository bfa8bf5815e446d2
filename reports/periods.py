"""Reporting periods and business-day arithmetic.

A :class:`Period` is a closed range of calendar dates (``2026-07-01`` to
``2026-09-30`` for ``2026-Q3``); ledger timestamps fall in it when
``since <= ts < until`` (UTC, compared as ISO 8601 text). Business days skip a
configurable weekend (Friday and Saturday in Saudi Arabia, Saturday and Sunday
elsewhere) and listed holidays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from reports.errors import BadPeriod

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive dates ``start``..``end``; ``label`` is how people wrote it."""

    start: date
    end: date
    label: str

    @property
    def since(self) -> str:
        """Lower ts bound (inclusive), in the ledger's timestamp format."""
        return f"{self.start.isoformat()}T00:00:00.000000Z"

    @property
    def until(self) -> str:
        """Upper ts bound (exclusive): midnight UTC after ``end``."""
        return f"{(self.end + timedelta(days=1)).isoformat()}T00:00:00.000000Z"

    def as_dict(self) -> dict[str, str]:
        return {"label": self.label, "from": self.start.isoformat(), "to": self.end.isoformat()}

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def parse_period(value: str) -> Period:
    """``2026``, ``2026-H2``, ``2026-Q3`` or ``2026-07``."""
    v = value.strip().upper()
    m = re.fullmatch(r"(\d{4})(?:-(Q[1-4]|H[12]|\d{2}))?", v)
    if not m:
        raise BadPeriod(value, "expected YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM")
    year = int(m.group(1))
    part = m.group(2)
    if part is None:
        return Period(date(year, 1, 1), date(year, 12, 31), m.group(0))
    if part.startswith("Q"):
        q = int(part[1])
        start = date(year, 3 * q - 2, 1)
        return Period(start, _month_end(year, 3 * q), f"{year}-{part}")
    if part.startswith("H"):
        h = int(part[1])
        return Period(date(year, 6 * h - 5, 1), _month_end(year, 6 * h), f"{year}-{part}")
    month = int(part)
    if not 1 <= month <= 12:
        raise BadPeriod(value, f"there is no month {month}")
    return Period(date(year, month, 1), _month_end(year, month), f"{year}-{part}")


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadPeriod(value, f"{option} must be a date such as 2026-07-01") from exc


def resolve_period(period: str | None, start: str | None = None, end: str | None = None) -> Period:
    """The period from ``--period`` or ``--from``/``--to`` (exactly one way)."""
    if period is not None and (start is not None or end is not None):
        raise BadPeriod(period, "give either --period or --from/--to, not both")
    if period is not None:
        return parse_period(period)
    if start is None or end is None:
        raise BadPeriod(f"{start or ''}..{end or ''}", "give --period, or both --from and --to")
    a, b = _parse_date(start, "--from"), _parse_date(end, "--to")
    if b < a:
        raise BadPeriod(f"{start}..{end}", "--to is before --from")
    return Period(a, b, f"{a.isoformat()}..{b.isoformat()}")


@dataclass(frozen=True, slots=True)
class Calendar:
    """Which days count as business days: not in ``weekend`` and not a holiday."""

    weekend: frozenset[int] = frozenset({4, 5})  # Friday, Saturday
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_names(cls, weekend: Iterable[str], holidays: Iterable[str] = ()) -> Calendar:
        days = set()
        for name in weekend:
            key = str(name).strip().lower()[:3]
            if key not in _DAYS:
                raise ValueError(f"unknown weekday {name!r}")
            days.add(_DAYS[key])
        return cls(frozenset(days), frozenset(date.fromisoformat(str(h)) for h in holidays))

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def business_days_after(self, start: date, end: date) -> int:
        """Business days in (start, end]: 0 when ``end`` is on or before ``start``.

        Deactivated the day after a Thursday termination, in Riyadh, is 1 business day
        later whether that day is Thursday+1 (Friday, weekend) … Sunday.
        """
        if end <= start:
            return 0
        days = (end - start).days
        if days > 400:  # long lags: count whole weeks arithmetically
            weeks, rest = divmod(days, 7)
            per_week = 7 - len(self.weekend)
            count = weeks * per_week
            base = start + timedelta(days=weeks * 7)
            count += sum(
                1 for i in range(1, rest + 1) if self.is_business_day(base + timedelta(days=i))
            )
            count -= sum(
                1
                for h in self.holidays
                if start < h <= start + timedelta(days=weeks * 7)
                and h.weekday() not in self.weekend
            )
            return count
        return sum(1 for i in range(1, days + 1) if self.is_business_day(start + timedelta(i)))
