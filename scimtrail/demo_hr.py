"""The demo's synthetic HR history: three exports of one quarter for a few hundred people.

Deterministic (seeded): the starting staff; then joiners during the quarter, movers,
leavers effective today and one bad row; then a rehire, a leaver whose termination HR
recorded eight days late, and more changes. Names mix Arabic and Latin scripts.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from provisioner.sources import EXAMPLE_COLUMNS

FIRST = [
    "محمد",
    "Sarah",
    "فاطمة",
    "Omar",
    "نورة",
    "Liam",
    "عبدالله",
    "Chen",
    "Aisha",
    "Jean",
    "خالد",
    "Maria",
    "ريم",
    "Yusuf",
    "Emma",
    "سلمان",
    "Priya",
    "هند",
    "Lucas",
    "Layla",
]
LAST = [
    "العتيبي",
    "Mitchell",
    "الزهراني",
    "Haddad",
    "القحطاني",
    "O'Brien",
    "الشمري",
    "Wei",
    "Rahman",
    "Dupont",
    "الحربي",
    "Garcia",
    "الدوسري",
    "Khan",
    "Schmidt",
]
LATIN = {
    "محمد": "mohammed",
    "فاطمة": "fatimah",
    "نورة": "noura",
    "عبدالله": "abdullah",
    "خالد": "khalid",
    "ريم": "reem",
    "سلمان": "salman",
    "هند": "hind",
    "العتيبي": "alotaibi",
    "الزهراني": "alzahrani",
    "القحطاني": "alqahtani",
    "الشمري": "alshammari",
    "الحربي": "alharbi",
    "الدوسري": "aldosari",
}
DEPARTMENTS = [
    "Engineering",
    "Finance",
    "Sales",
    "Operations",
    "Human Resources",
    "Legal",
    "IT Security",
]
TITLES = ["Analyst", "Engineer", "Senior Engineer", "Manager", "Specialist", "Coordinator"]
COLUMNS = EXAMPLE_COLUMNS


@dataclass(frozen=True, slots=True)
class Person:
    emp: str
    first: str
    last: str
    department: str
    title: str
    status: str = "Active"
    hire: str = ""
    term: str = ""
    manager: str = ""

    @property
    def email(self) -> str:
        first = LATIN.get(self.first, self.first).lower().replace("'", "")
        last = LATIN.get(self.last, self.last).lower().replace("'", "")
        return f"{first}.{last}.{self.emp[1:]}@example.sa"

    def row(self) -> list[str]:
        return [
            self.emp,
            self.first,
            self.last,
            self.email,
            self.department,
            self.title,
            self.status,
            self.hire,
            self.term,
            self.manager,
        ]


def write_hr(path: Path, people: list[Person], bad_row: bool = False) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for p in people:
            w.writerow(p.row())
        if bad_row:
            w.writerow(
                [
                    "E9999",
                    "Broken",
                    "Row",
                    "not-an-email",
                    "Sales",
                    "Analyst",
                    "Active",
                    "2026-13-45",
                    "",
                    "",
                ]
            )
    return path


@dataclass
class History:
    snapshots: list[Path]
    joiners: int
    movers: int
    leavers: int
    late: str
    rehire: str


def hr_history(out: Path, today: date, size: int = 300) -> History:
    """Three HR exports of the quarter: the starting staff, then two sets of changes."""
    rnd = random.Random(20261)
    q_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    staff: dict[str, Person] = {}
    for i in range(size):
        emp = f"E{2000 + i}"
        staff[emp] = Person(
            emp,
            rnd.choice(FIRST),
            rnd.choice(LAST),
            rnd.choice(DEPARTMENTS),
            rnd.choice(TITLES),
            hire=(q_start - timedelta(days=rnd.randint(30, 2000))).isoformat(),
            manager="" if i < 10 else f"E{2000 + rnd.randint(0, 9)}",
        )
    snaps = [write_hr(out / "hr-1.csv", list(staff.values()))]
    ids = list(staff)
    # run 2: joiners during the quarter, movers, leavers effective today, one bad row
    joiners = [f"E{2000 + size + i}" for i in range(15)]
    for n, emp in enumerate(joiners):
        staff[emp] = Person(
            emp,
            rnd.choice(FIRST),
            rnd.choice(LAST),
            rnd.choice(DEPARTMENTS),
            rnd.choice(TITLES),
            hire=(q_start + timedelta(days=n * 4)).isoformat(),
            manager="E2001",
        )
    movers = rnd.sample(ids[10:], 20)
    for emp in movers:
        p = staff[emp]
        dept = rnd.choice([d for d in DEPARTMENTS if d != p.department])
        staff[emp] = replace(p, department=dept, title=rnd.choice(TITLES))
    pool = [e for e in ids[10:] if e not in movers]
    leavers = rnd.sample(pool, 10)
    for emp in leavers:
        staff[emp] = replace(staff[emp], status="Terminated", term=today.isoformat())
    snaps.append(write_hr(out / "hr-2.csv", list(staff.values()), bad_row=True))
    # run 3: a rehire, a leaver whose termination HR recorded a week late, more changes
    rehire = leavers[0]
    staff[rehire] = replace(staff[rehire], status="Active", term="", hire=today.isoformat())
    late = next(e for e in pool if e not in leavers)
    staff[late] = replace(
        staff[late], status="Terminated", term=(today - timedelta(days=8)).isoformat()
    )
    more = rnd.sample([e for e in pool if e not in leavers and e != late], 4)
    for emp in more:
        staff[emp] = replace(staff[emp], status="Terminated", term=today.isoformat())
    for emp in rnd.sample([e for e in ids[10:] if staff[e].status == "Active"], 10):
        staff[emp] = replace(staff[emp], department=rnd.choice(DEPARTMENTS))
    snaps.append(write_hr(out / "hr-3.csv", list(staff.values())))
    return History(snaps, len(joiners), 30, len(leavers) + len(more) + 1, late, rehire)


__all__ = ["History", "Person", "hr_history", "write_hr"]
