"""Auditor-reproducible sample selection.

The method is simple enough to re-perform with a spreadsheet or ten lines of any
language, without scimtrail:

1. The population is a list of ledger sequence numbers (one per event).
2. Each member gets the rank key ``SHA-256(seed || "\\n" || stratum || "\\n" || seq)``
   (UTF-8, ``seq`` in decimal), as a hexadecimal string.
3. Sort by rank key; the sample is the first ``n`` members.

The same seed and population always give the same sample; a different seed gives
an independent one. Because the key is a hash, nobody choosing the seed can steer
which events are picked without trying seeds, and the seed is printed in the pack.

Default sample sizes follow a population-based table widely used for testing
controls that operate many times a day (see docs/audit-pack.md):

=====================  =======================
population             sample
=====================  =======================
0-5                    all of them
6-50                   5
51-250                 10 %, rounded up
more than 250          25
=====================  =======================

``--sample N`` overrides the table (capped at the population size).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reports.pack_errors import PackOptionError

SIZE_TABLE: tuple[tuple[str, str], ...] = (
    ("0-5", "all of them"),
    ("6-50", "5"),
    ("51-250", "10 %, rounded up"),
    ("more than 250", "25"),
)


@dataclass(frozen=True, slots=True)
class Selection:
    """A reproducible sample: what was drawn from what, and how."""

    stratum: str
    seed: str
    population: int
    size: int
    basis: str  # "table" or "--sample N"
    seqs: tuple[int, ...]  # in rank order


def default_size(population: int) -> int:
    """Sample size for a population, per :data:`SIZE_TABLE`."""
    if population <= 5:
        return population
    if population <= 50:
        return 5
    if population <= 250:
        return math.ceil(population / 10)
    return 25


def rank_key(seed: str, stratum: str, seq: int) -> str:
    return hashlib.sha256(f"{seed}\n{stratum}\n{seq}".encode()).hexdigest()


def select(
    stratum: str, population: Sequence[int], seed: str, requested: int | None = None
) -> Selection:
    """Draw the sample of ``stratum`` from ``population`` (ledger seqs)."""
    if not seed:
        raise PackOptionError("--seed", seed, "a non-empty string")
    if requested is not None and requested < 0:
        raise PackOptionError("--sample", requested, "a whole number of events, 0 or more")
    size = default_size(len(population)) if requested is None else min(requested, len(population))
    basis = "table" if requested is None else f"--sample {requested}"
    ranked = sorted(population, key=lambda s: rank_key(seed, stratum, s))
    return Selection(stratum, seed, len(population), size, basis, tuple(ranked[:size]))


__all__ = ["SIZE_TABLE", "Selection", "default_size", "rank_key", "select"]
