"""RFC 8785 (JCS) canonical JSON bytes.

The reference implementation is Trail of Bits' ``rfc8785``. It is pure Python and
~10x slower than ``orjson``, so :func:`canonical_bytes` takes a fast path when a
cheap walk proves the value is one on which ``orjson`` with sorted keys produces
exactly the JCS bytes: no floats, integers within ±(2^53-1), string keys whose
code-point order equals their UTF-16 order (no character at or above U+E000), and
valid Unicode (orjson refuses lone surrogates itself). Anything else goes to
``rfc8785``. The property tests in ``tests/evidence/test_canonical.py`` check the
two paths byte for byte.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

from evidence.errors import InvalidPayload

_MAX_SAFE = 2**53 - 1
_SORTED = orjson.OPT_SORT_KEYS


def _fast_path_safe(value: Any) -> bool:
    """True when orjson's sorted output is guaranteed to equal the JCS bytes."""
    stack = [value]
    pop = stack.pop
    push = stack.append
    while stack:
        v = pop()
        t = type(v)
        if t is str or v is None or t is bool:
            continue
        if t is int:
            if -_MAX_SAFE <= v <= _MAX_SAFE:
                continue
            return False
        if t is dict:
            for k, item in v.items():
                if type(k) is not str:
                    return False
                if not k.isascii() and max(k) >= "\ue000":
                    return False
                push(item)
            continue
        if t is list or t is tuple:
            stack.extend(v)
            continue
        return False  # float, Decimal, subclasses, anything unusual: use the reference
    return True


def canonical_bytes(value: Any, *, known_safe: bool = False) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value`` (raises InvalidPayload).

    ``known_safe`` says the caller has already walked ``value`` with the same rules as
    :func:`_fast_path_safe` (the redactor does, in its own walk).
    """
    if known_safe or _fast_path_safe(value):
        try:
            return orjson.dumps(value, option=_SORTED)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: let the reference name the problem
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError as exc:
        raise InvalidPayload(f"integer outside ±(2^53-1): {exc}") from exc
    except rfc8785.FloatDomainError as exc:
        raise InvalidPayload(f"number is not finite (NaN or Infinity): {exc}") from exc
    except rfc8785.CanonicalizationError as exc:
        raise InvalidPayload(str(exc)) from exc


def reference_bytes(value: Any) -> bytes:
    """Always the reference implementation (for tests and the deep audit)."""
    return rfc8785.dumps(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes (stored payloads and entries)."""
    return orjson.loads(data)
