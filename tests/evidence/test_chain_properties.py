"""Property tests over the pure chain: prefixes verify; any single-field change is caught."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.canonical import canonical_bytes
from evidence.chain import (
    GENESIS,
    ChainVerifier,
    ExpectedRoot,
    Row,
    entry_bytes,
    link_hash,
    payload_commitment,
)
from evidence.errors import IntegrityError
from evidence.merkle import leaf_hash, root_of

payloads = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.integers(-1000, 1000), st.text(max_size=20), st.booleans(), st.none()),
    max_size=4,
)


@dataclass
class Spec:
    kind: str
    actor: str
    payload: dict[str, object]


specs = st.builds(
    Spec,
    kind=st.sampled_from(["note", "scim.exchange", "run.started", "git.commit"]),
    actor=st.text(min_size=1, max_size=10),
    payload=payloads,
)


def build(chain: list[Spec]) -> list[Row]:
    rows, prev = [], GENESIS
    for seq, spec in enumerate(chain, 1):
        salt = seq.to_bytes(16, "big")
        body = canonical_bytes(spec.payload)
        phash = payload_commitment(salt, body)
        ts = f"2026-07-01T00:00:{seq % 60:02d}.000000Z"
        entry = entry_bytes(seq, ts, spec.kind, spec.actor, None, None, phash)
        leaf = leaf_hash(entry)
        link = link_hash(prev, leaf)
        rows.append(
            Row(
                seq,
                ts,
                spec.kind,
                spec.actor,
                None,
                None,
                phash,
                entry,
                leaf,
                prev,
                link,
                salt,
                body,
                None,
            )
        )
        prev = link
    return rows


@settings(max_examples=60, deadline=None)
@given(st.lists(specs, min_size=1, max_size=25))
def test_every_prefix_of_a_valid_chain_verifies_with_the_right_root(chain: list[Spec]) -> None:
    rows = build(chain)
    for n in range(1, len(rows) + 1):
        result = ChainVerifier().run(rows[:n])
        assert result.size == n
        assert result.head_link == rows[n - 1].link
        assert result.root == root_of([r.leaf for r in rows[:n]])


FIELDS = [
    "ts",
    "kind",
    "actor",
    "run_id",
    "ref",
    "payload_hash",
    "entry",
    "leaf",
    "prev",
    "link",
    "salt",
    "body",
]


def _changed(value: object) -> object:
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:] if value else b"x"
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return "x"
    return value  # pragma: no cover - every field above is bytes, str or None


@settings(max_examples=150, deadline=None)
@given(st.lists(specs, min_size=2, max_size=12), st.data())
def test_any_single_field_change_is_detected(chain: list[Spec], data: st.DataObject) -> None:
    rows = build(chain)
    i = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(FIELDS))
    rows[i] = rows[i]._replace(**{field: _changed(getattr(rows[i], field))})
    kept = ExpectedRoot(len(rows), root_of([r.leaf for r in build(chain)]), "kept root")
    with pytest.raises(IntegrityError):
        ChainVerifier([kept]).run(rows)


@settings(max_examples=60, deadline=None)
@given(st.lists(specs, min_size=3, max_size=12), st.data())
def test_dropping_or_swapping_entries_is_detected(chain: list[Spec], data: st.DataObject) -> None:
    rows = build(chain)
    i = data.draw(st.integers(0, len(rows) - 2))
    dropped = rows[:i] + rows[i + 1 :]
    with pytest.raises(IntegrityError):
        ChainVerifier().run(dropped)
    swapped = list(rows)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    with pytest.raises(IntegrityError):
        ChainVerifier().run(swapped)
