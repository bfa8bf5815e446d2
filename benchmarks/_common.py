"""Helpers shared by the benchmarks: payloads, timing, medians, tables, PostgreSQL schemas.

The machine these run on has two cores and is shared with other work, so every
benchmark interleaves its variants (ledger, baseline, ledger, baseline, ...) and
reports the median of several repetitions. Compare ratios, not absolute figures.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

PG_DEFAULT = os.environ.get("SCIMTRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

_GIVEN = ["Łukasz", "Zoë", "Søren", "Nuño", "Ahmed", "Chloé", "Björk", "Dũng"]
_FAMILY = ["Brzęczyszczykiewicz", "Ó Súilleabháin", "Müller-Lüdenscheidt", "Al-Ḥarbī"]


def scim_user(i: int = 0) -> dict[str, Any]:
    """A realistic SCIM 2.0 User (core + enterprise extension, non-ASCII names), ~1.5 KB."""
    given = _GIVEN[i % len(_GIVEN)]
    family = _FAMILY[i % len(_FAMILY)]
    login = f"{given.lower()}.{i}"
    return {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": f"E{100000 + i}",
        "userName": f"{login}@example.com",
        "name": {
            "formatted": f"{given} {family}",
            "familyName": family,
            "givenName": given,
            "honorificPrefix": "Dr.",
        },
        "displayName": f"{given} {family}",
        "nickName": given,
        "title": "Senior Site Reliability Engineer — Plattform & Betrieb",
        "userType": "Employee",
        "preferredLanguage": "de-CH",
        "locale": "de-CH",
        "timezone": "Europe/Zurich",
        "active": True,
        "emails": [
            {"value": f"{login}@example.com", "type": "work", "primary": True},
            {"value": f"{login}@privat.example.org", "type": "home", "primary": False},
        ],
        "phoneNumbers": [
            {"value": "+41 44 668 18 00", "type": "work"},
            {"value": "+41 79 123 45 67", "type": "mobile"},
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "Bahnhofstraße 12",
                "locality": "Zürich",
                "region": "ZH",
                "postalCode": "8001",
                "country": "CH",
                "formatted": "Bahnhofstraße 12\n8001 Zürich\nSchweiz",
                "primary": True,
            }
        ],
        "roles": [{"value": "sre-oncall", "display": "Bereitschaft Süd", "primary": False}],
        "entitlements": [{"value": "vpn.zürich", "type": "network"}],
        "groups": [
            {
                "value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                "display": "Plattform — Zürich",
                "$ref": "https://scim.example.com/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
            }
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": str(100000 + i),
            "costCenter": "CC-4711",
            "organization": "Beispiel AG",
            "division": "Technik",
            "department": "Plattform Engineering",
            "manager": {"value": "2819c223-7f76-453a-919d-413861904646", "displayName": "Renée"},
        },
    }


def scim_exchange(i: int = 0) -> dict[str, Any]:
    """A ``scim.exchange`` payload (docs/evidence-kinds.md): request + response of a create."""
    user = scim_user(i)
    created = dict(user)
    created["id"] = "2819c223-7f76-453a-919d-" + f"{i:012d}"
    created["meta"] = {
        "resourceType": "User",
        "created": "2026-12-03T09:30:00Z",
        "lastModified": "2026-12-03T09:30:00Z",
        "location": f"https://scim.example.com/scim/v2/Users/{created['id']}",
        "version": 'W/"1"',
    }
    return {
        "operation": "create",
        "resource_type": "User",
        "external_id": user["externalId"],
        "employee_id": str(100000 + i),
        "attempt": 1,
        "outcome": "ok",
        "request": {
            "method": "POST",
            "url": "https://scim.example.com/scim/v2/Users",
            "headers": {
                "Content-Type": "application/scim+json",
                "Authorization": "Bearer canary-not-a-real-token",
            },
            "body": user,
        },
        "response": {
            "status": 201,
            "headers": {"Content-Type": "application/scim+json", "ETag": 'W/"1"'},
            "body": created,
        },
        "latency_ms": 41,
        "request_id": str(uuid.UUID(int=i)),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(fn: Callable[[], Any]) -> float:
    """Seconds taken by ``fn()``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleave(
    variants: dict[str, Callable[[], float]], reps: int, log: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """Run each variant ``reps`` times, alternating the order every repetition.

    Each variant returns a rate (items/s). Returns the list of rates per variant.
    """
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else list(reversed(names))
        for name in order:
            rate = variants[name]()
            out[name].append(rate)
            if log is not None:
                log(f"    rep {rep + 1}/{reps} {name}: {rate:,.0f}/s")
    return out


def peak_rss_mib() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@contextlib.contextmanager
def pg_schema(base: str, prefix: str = "bench") -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema, dropped afterwards; yields (schema, url)."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conninfo = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema, pg_schema_url(base, schema)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def fmt_rate(v: float) -> str:
    return f"{v:,.0f}/s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain Markdown table (readable in a terminal and pasteable into README)."""
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, sep, *body])
