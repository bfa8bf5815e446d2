"""Durability settings, password-free display of URLs, and redaction with fingerprints."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence import store
from evidence.canonical import _fast_path_safe
from evidence.errors import DatabaseUnavailable
from evidence.ledger import Ledger
from evidence.redact import MARKER, WHITESPACE, Redactor, is_secret_key


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
    assert not any("Bearer abc" in s for s in _string_values(redacted))


def _string_values(v: Any) -> list[str]:
    """Every string value (not object key) inside ``v``: keys are names, never redacted."""
    if isinstance(v, dict):
        return [s for item in v.values() for s in _string_values(item)]
    if isinstance(v, list | tuple):
        return [s for item in v for s in _string_values(item)]
    return [v] if isinstance(v, str) else []


_CRED = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S", re.IGNORECASE)
_URL = re.compile(
    r"([?&](?:access_token|refresh_token|id_token|token|client_secret|api_key|apikey|password"
    r"|sig|signature)=)[^&#\s]*",
    re.IGNORECASE,
)


def _naive_redact(v: Any) -> Any:
    """The rules of evidence/redact.py written the slow, obvious way: copy everything."""
    if isinstance(v, dict):
        out = {}
        for k, item in v.items():
            if isinstance(k, str) and is_secret_key(k) and item is not None:
                if isinstance(item, list | tuple):
                    out[k] = [MARKER for _ in item]
                elif isinstance(item, dict):
                    out[k] = {kk: MARKER for kk in item}
                else:
                    out[k] = MARKER
            else:
                out[k] = _naive_redact(item)
        return out
    if isinstance(v, list | tuple):
        return [_naive_redact(x) for x in v]
    if isinstance(v, str):
        if _CRED.match(v):
            return MARKER
        return _URL.sub(lambda m: m.group(1) + MARKER, v)
    return v


@settings(max_examples=400, deadline=None)
@given(_json)
def test_the_copy_on_write_walk_agrees_with_a_naive_full_copy(value: object) -> None:
    before = copy.deepcopy(value)
    redacted = Redactor().redact(value)
    assert redacted == _naive_redact(value)
    assert value == before  # the caller's payload is never changed


def test_secrets_deep_inside_shared_structure_are_still_replaced() -> None:
    inner = {"userName": "a", "urls": ["https://x/cb?code=1&access_token=canary-tok"]}
    payload = {"keep": inner, "list": [inner, {"password": "canary-pw"}], "n": 1}
    out = Redactor().redact(payload)
    assert "canary" not in repr(out)
    assert "canary-tok" in inner["urls"][0]  # the input is left as it was
    untouched = {"a": [1, {"b": "c"}]}
    assert Redactor().redact(untouched) is untouched  # nothing to replace: nothing copied


def test_a_secret_under_an_enum_key_is_redacted_whatever_was_seen_before() -> None:
    # in a fresh interpreter: the walk memoises keys, and a plain "password" seen first
    # must not be what makes the enum key count as a secret
    code = """
import enum
from evidence.redact import Redactor

class Field(enum.StrEnum):
    PASSWORD = "password"
    NAME = "name"

out, safe = Redactor().redact_checked({Field.PASSWORD: "canary-enum", Field.NAME: "x"})
print(repr(out), safe)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "canary-enum" not in proc.stdout
    assert MARKER in proc.stdout
    assert proc.stdout.strip().endswith("False")  # non-str keys: the reference canonicaliser


def test_the_whitespace_table_is_what_str_isspace_says() -> None:
    assert set(WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}
