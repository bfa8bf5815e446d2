"""Canonical bytes: the fast path must equal the RFC 8785 reference byte for byte."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.canonical import _fast_path_safe, canonical_bytes
from evidence.errors import InvalidPayload

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_bytes_equal_the_reference_implementation(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _scalars, max_size=8))
def test_key_order_does_not_change_the_bytes(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_bytes(reordered) == canonical_bytes(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e20, b"100000000000000000000"),
        (1e-7, b"1e-7"),
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.000001, b"0.000001"),
        ({"\U0001f600": 1, "\ufb01": 2}, '{"\U0001f600":1,"\ufb01":2}'.encode()),
        ({"b": [1, "é"], "a": None}, '{"a":null,"b":[1,"é"]}'.encode()),
    ],
)
def test_known_divergences_from_json_dumps_follow_rfc8785(value: Any, expected: bytes) -> None:
    assert canonical_bytes(value) == expected
    if not isinstance(value, dict) or not _fast_path_safe(value):
        return
    assert (
        canonical_bytes(value)
        == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_astral_keys_are_not_taken_through_the_fast_path() -> None:
    assert not _fast_path_safe({"\U0001f600": 1})
    assert not _fast_path_safe({"x": 1.5})
    assert not _fast_path_safe({"x": 2**60})
    assert _fast_path_safe({"userName": "محمد", "n": [1, 2, {"ok": True}]})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"x": math.nan}, "not finite"),
        ({"x": math.inf}, "not finite"),
        ({"x": 2**60}, "integer outside"),
        ({"x": "\ud800"}, "payload cannot be recorded"),
    ],
)
def test_values_outside_i_json_are_refused_with_a_reason(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        canonical_bytes(value)
    assert fragment in info.value.diagnostics()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2**53 - 1),
    st.text(),
    st.text(),
    st.text(),
    st.none() | st.text(),
    st.none() | st.integers(1, 2**53 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_the_envelope_fast_path_equals_the_reference(
    seq: int, ts: str, kind: str, actor: str, run: str | None, ref: int | None, ph: bytes
) -> None:
    from evidence.chain import FORMAT_VERSION, entry_bytes

    envelope = {"v": FORMAT_VERSION, "seq": seq, "ts": ts, "kind": kind, "actor": actor,
                "run": run, "ref": ref, "payload": ph.hex()}  # fmt: skip
    try:
        expected = rfc8785.dumps(envelope)
    except rfc8785.CanonicalizationError:
        with pytest.raises(InvalidPayload):
            entry_bytes(seq, ts, kind, actor, run, ref, ph)
        return
    assert entry_bytes(seq, ts, kind, actor, run, ref, ph) == expected
