"""Sample selection: the documented size table, reproducibility, independence of order."""

from __future__ import annotations

import hashlib
import random

import pytest

from reports.pack_errors import PackOptionError
from reports.sampling import default_size, select


@pytest.mark.parametrize(
    ("population", "size"),
    [(0, 0), (1, 1), (5, 5), (6, 5), (50, 5), (51, 6), (100, 10), (250, 25), (251, 25),
     (100_000, 25)],
)  # fmt: skip
def test_default_size_follows_the_documented_table(population: int, size: int) -> None:
    assert default_size(population) == size


def test_same_seed_same_sample_whatever_the_order_of_the_population() -> None:
    seqs = list(range(1, 1001))
    shuffled = seqs[:]
    random.Random(7).shuffle(shuffled)
    assert select("leavers", seqs, "s1").seqs == select("leavers", shuffled, "s1").seqs


def test_the_sample_is_the_smallest_rank_keys_computed_without_scimtrail() -> None:
    seqs = list(range(10, 400, 3))
    expected = sorted(
        seqs, key=lambda s: hashlib.sha256(f"audit-2026\njoiners\n{s}".encode()).hexdigest()
    )[:13]
    got = select("joiners", seqs, "audit-2026")
    assert list(got.seqs) == expected
    assert (got.population, got.size, got.basis) == (len(seqs), 13, "table")


def test_another_seed_or_stratum_gives_another_sample() -> None:
    seqs = list(range(1, 500))
    a = select("leavers", seqs, "seed-a").seqs
    assert a != select("leavers", seqs, "seed-b").seqs
    assert a != select("joiners", seqs, "seed-a").seqs


def test_requested_size_is_capped_at_the_population_and_checked() -> None:
    assert select("movers", [1, 2, 3], "s", 10).size == 3
    with pytest.raises(PackOptionError, match="--sample"):
        select("movers", [1, 2, 3], "s", -1)
    with pytest.raises(PackOptionError, match="--seed"):
        select("movers", [1, 2, 3], "")
