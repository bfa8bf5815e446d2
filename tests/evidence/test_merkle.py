"""RFC 6962 tree: roots, inclusion and consistency proofs, and their verifiers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.errors import ProofInvalid
from evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written recursively as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def make_leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def subtree_of(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    return lambda a, b: reference_mth(leaves[a:b])


def test_rfc6962_known_answer_for_the_empty_tree_and_one_leaf() -> None:
    assert root_of([]) == EMPTY_ROOT
    # RFC 6962 test vector: leaf hash of the empty string
    assert (
        leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_frontier_root_equals_the_recursive_definition(n: int) -> None:
    leaves = make_leaves(n)
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == reference_mth(leaves)
    restored = Frontier.from_bytes(n, frontier.to_bytes())
    assert restored.root() == frontier.root()


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies_and_any_change_breaks_it(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=200))
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    leaves = make_leaves(n)
    root = reference_mth(leaves)
    path = inclusion_path(i, n, subtree_of(leaves))
    assert len(path) <= max(1, (n - 1).bit_length())
    verify_inclusion(i, n, leaves[i], path, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(i, n, leaf_hash(b"forged"), path, root)
    if path:
        j = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
        bad = list(path)
        bad[j] = hashlib.sha256(bad[j]).digest()
        with pytest.raises(ProofInvalid):
            verify_inclusion(i, n, leaves[i], bad, root)
        with pytest.raises(ProofInvalid):
            verify_inclusion(i, n, leaves[i], path[:-1], root)
    if n > 1:
        other = (i + 1) % n
        with pytest.raises(ProofInvalid):
            verify_inclusion(other, n, leaves[i], path, root)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies_and_a_rewrite_breaks_it(data: st.DataObject) -> None:
    new = data.draw(st.integers(min_value=1, max_value=200))
    old = data.draw(st.integers(min_value=1, max_value=new))
    leaves = make_leaves(new)
    old_root, new_root = reference_mth(leaves[:old]), reference_mth(leaves)
    path = consistency_path(old, new, subtree_of(leaves))
    verify_consistency(old, new, old_root, new_root, path)
    if old < new:
        rewritten = list(leaves)
        k = data.draw(st.integers(min_value=0, max_value=old - 1))
        rewritten[k] = leaf_hash(b"rewritten")
        with pytest.raises(ProofInvalid):
            verify_consistency(old, new, old_root, reference_mth(rewritten), path)
        with pytest.raises(ProofInvalid):
            verify_consistency(old, new, reference_mth(rewritten[:old]), new_root, path)
        if path:
            with pytest.raises(ProofInvalid):
                verify_consistency(old, new, old_root, new_root, path[1:])


def test_two_roots_for_one_size_are_reported_as_a_fork() -> None:
    with pytest.raises(ProofInvalid, match="forked"):
        verify_consistency(5, 5, b"a" * 32, b"b" * 32, [])
