from __future__ import annotations

from datetime import date

import pytest

from reports.errors import BadPeriod
from reports.periods import Calendar, parse_period, resolve_period


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_periods_parse_to_inclusive_dates(text: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.start, p.end) == (start, end)
    assert p.until > p.since


def test_from_and_to_give_a_custom_period_and_bad_input_says_what_to_type() -> None:
    p = resolve_period(None, "2026-07-15", "2026-08-14")
    assert p.since == "2026-07-15T00:00:00.000000Z"
    assert p.until == "2026-08-15T00:00:00.000000Z"
    for args in [
        ("2026-Q5", None, None),
        (None, "2026-07-01", None),
        ("2026", "2026-01-01", None),
        (None, "2026-09-01", "2026-08-01"),
        (None, "July", "2026-08-01"),
        ("2026-13",),
    ]:
        with pytest.raises(BadPeriod, match="period"):
            resolve_period(*args)


def test_business_days_skip_the_configured_weekend_and_holidays() -> None:
    riyadh = Calendar.from_names(["fri", "sat"], ["2026-09-23"])
    thu = date(2026, 9, 17)
    assert riyadh.business_days_after(thu, thu) == 0
    assert riyadh.business_days_after(thu, date(2026, 9, 20)) == 1  # Fri, Sat skipped
    assert riyadh.business_days_after(date(2026, 9, 22), date(2026, 9, 24)) == 1  # national day
    western = Calendar.from_names(["sat", "sun"])
    assert western.business_days_after(thu, date(2026, 9, 21)) == 2


def test_long_lags_count_the_same_as_day_by_day() -> None:
    cal = Calendar.from_names(["fri", "sat"], ["2026-03-01", "2026-06-11"])
    start = date(2025, 1, 2)
    for days in (399, 401, 450, 800):
        end = date.fromordinal(start.toordinal() + days)
        slow = sum(
            1
            for i in range(1, days + 1)
            if cal.is_business_day(date.fromordinal(start.toordinal() + i))
        )
        assert cal.business_days_after(start, end) == slow
