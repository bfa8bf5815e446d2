"""Durability settings, password-free display of URLs, and redaction with fingerprints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence import store
from evidence.canonical import _fast_path_safe
from evidence.errors import DatabaseUnavailable
from evidence.ledger import Ledger
from evidence.redact import MARKER, Redactor, is_secret_key


def test_commits_are_fully_synced_on_both_databases(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        if ledger.dialect == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_database_password_is_never_shown() -> None:
    url = "postgresql://scim:hunter2-canary@db.internal:5432/ledger"
    assert "hunter2-canary" not in store.display(url)
    with pytest.raises(DatabaseUnavailable) as info:
        Ledger.open("postgresql://scim:hunter2-canary@127.0.0.1:1/ledger")
    assert "hunter2-canary" not in info.value.diagnostics()
    assert "***" in info.value.diagnostics()


def test_a_missing_directory_is_named() -> None:
    with pytest.raises(DatabaseUnavailable, match="directory /no/such does not exist"):
        Ledger.init("/no/such/ledger.db")


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "set-cookie",
        "password",
        "client_secret",
        "access_token",
        "refreshToken",
        "X-API-Key",
        "privateKey",
    ],
)
def test_secret_names_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["userName", "displayName", "tokenEndpoint", "token_type", "emails"]
)
def test_ordinary_names_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_fingerprints_prove_the_same_token_without_revealing_it() -> None:
    redactor = Redactor(b"fingerprint-key")
    a = redactor.redact({"headers": {"Authorization": "Bearer tok-A"}})
    a2 = redactor.redact({"access_token": "Bearer tok-A"})
    b = redactor.redact({"headers": {"Authorization": "Bearer tok-B"}})
    mark_a = a["headers"]["Authorization"]
    assert mark_a.startswith(MARKER[:-1])
    assert "tok-A" not in mark_a
    assert mark_a == a2["access_token"]
    assert mark_a != b["headers"]["Authorization"]
    other_key = Redactor(b"another-key").redact({"password": "Bearer tok-A"})
    assert other_key["password"] != mark_a


def test_redaction_does_not_change_the_callers_payload() -> None:
    payload = {"password": "s3cret", "keep": {"userName": "a"}}
    out = Redactor().redact(payload)
    assert payload["password"] == "s3cret"
    assert out == {"password": MARKER, "keep": {"userName": "a"}}


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(["Bearer abc", " basic x", "\u00a0Token t", "https://x/?access_token=s&a=1"]),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.text() | st.sampled_from(["password", "Authorization", "\U0001f600"]), c, max_size=4
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_the_fused_walk_agrees_with_the_separate_checks(value: object) -> None:
    redacted, safe = Redactor().redact_checked(value)
    assert safe == _fast_path_safe(redacted)
    assert Redactor().redact(redacted) == redacted  # redaction is idempotent
    assert "abc" not in repr(redacted) or "Bearer abc" not in repr(value)
