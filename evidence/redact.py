"""Redaction of secrets before anything is canonicalised or hashed.

Header values (Authorization, Cookie, Proxy-Authorization, Set-Cookie, X-API-Key …)
and JSON members whose names carry secrets (password, secret, token, client_secret,
access_token, refresh_token, api_key, private_key …) are replaced by a marker. With
a fingerprint key (``SCIMTRAIL_FINGERPRINT_KEY``), the marker carries a keyed
HMAC-SHA256 fingerprint so that "the same token was used twice" stays provable
without revealing it. String values that look like credentials ("Bearer …",
"Basic …") are redacted wherever they appear; so are secret query parameters in URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Any

MARKER = "[REDACTED]"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-scimtrail-signature",
        "x-hub-signature",
        "x-hub-signature-256",
    }
)
_SECRET_EXACT = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "clientsecret",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "apikey",
        "privatekey",
        "passphrase",
        "credentials",
        "authorization",
        "cookie",
        "setcookie",
        "proxyauthorization",
        "sessionid",
        "bearer",
    }
)
_SECRET_SUFFIXES = ("password", "secret", "token", "apikey", "privatekey", "passphrase")
_CRED_VALUE = re.compile(r"^\s*(bearer|basic|token|digest)\s+\S", re.IGNORECASE)
_URL_SECRET = re.compile(
    r"([?&](?:access_token|refresh_token|id_token|token|client_secret|api_key|apikey|password|sig|signature)=)[^&#\s]*",
    re.IGNORECASE,
)


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "").replace(".", "")


def is_secret_key(key: str) -> bool:
    if key.lower() in SECRET_HEADERS:
        return True
    k = _norm(key)
    return k in _SECRET_EXACT or k.endswith(_SECRET_SUFFIXES)


class Redactor:
    """Replaces secrets by a marker, optionally with a keyed fingerprint."""

    def __init__(self, fingerprint_key: bytes | None = None) -> None:
        self._key = fingerprint_key

    @classmethod
    def from_env(cls) -> Redactor:
        key = os.environ.get("SCIMTRAIL_FINGERPRINT_KEY")
        return cls(key.encode() if key else None)

    def marker(self, secret: Any) -> str:
        if self._key is None or not isinstance(secret, str) or not secret:
            return MARKER
        digest = hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{MARKER[:-1]} hmac-sha256:{digest}]"

    def redact(self, value: Any) -> Any:
        """``value`` with every secret replaced; the input is left unchanged.

        Containers without a secret are shared with the input, not copied: treat the
        result as read-only.
        """
        return self.redact_checked(value)[0]

    def redact_checked(self, value: Any) -> tuple[Any, bool]:
        """Redact, and say in the same walk whether the result may take the fast JCS path.

        The flag is True when the result holds only strings, booleans, null, integers
        within ±(2^53-1), lists and objects whose keys sort the same by code point and by
        UTF-16 unit (see evidence/canonical.py); it lets the ledger skip a second walk.

        The walk copies only the containers on the path to a secret (copy on write):
        a typical SCIM exchange holds one secret header among ~250 nodes, and copying
        every container took about 40 % of the walk.
        """
        safe = True
        marker = self.marker
        key_info = _KEY_INFO
        suspect = _SUSPECT_START
        cred = _CRED_VALUE.match
        url = _URL_SECRET.search

        def walk(v: Any) -> Any:
            nonlocal safe
            t = type(v)
            if t is dict:
                out: dict[Any, Any] | None = None
                for k, item in v.items():
                    info = key_info.get(k)
                    if info is None:
                        info = _key_info(k)
                    if info:
                        if info & _UNSAFE_KEY:
                            safe = False
                        if info & _SECRET_KEY and item is not None:
                            if out is None:
                                out = dict(v)
                            out[k] = _mark(item, marker)
                            if type(item) is dict and any(
                                _key_info(kk) & _UNSAFE_KEY for kk in item
                            ):
                                safe = False
                            continue
                    ti = type(item)
                    if ti is str:
                        # the checks of _redact_str, inlined: most strings pass them
                        if item and (
                            (item[0] in suspect and cred(item)) or ("=" in item and url(item))
                        ):
                            if out is None:
                                out = dict(v)
                            out[k] = _redact_str(item, marker)
                    elif ti is int:
                        if not -_MAX_SAFE <= item <= _MAX_SAFE:
                            safe = False
                    elif item is not None and ti is not bool:
                        new = walk(item)
                        if new is not item:
                            if out is None:
                                out = dict(v)
                            out[k] = new
                return v if out is None else out
            if t is list:
                copy: list[Any] | None = None
                for i, x in enumerate(v):
                    if type(x) is str:
                        if not x or not ((x[0] in suspect and cred(x)) or ("=" in x and url(x))):
                            continue
                        new = _redact_str(x, marker)
                    else:
                        new = walk(x)
                    if new is not x:
                        if copy is None:
                            copy = list(v)
                        copy[i] = new
                return v if copy is None else copy
            if t is str:
                return _redact_str(v, marker)
            if t is tuple:
                return walk(list(v))  # JSON has arrays only; a tuple becomes a list
            if v is None or t is bool:
                return v
            if t is int:
                if not -_MAX_SAFE <= v <= _MAX_SAFE:
                    safe = False
                return v
            safe = False  # floats and anything unusual: the reference implementation decides
            return v

        result = walk(value)
        return result, safe


def _mark(item: Any, marker: Any) -> Any:
    """What a secret member's value becomes: lists and objects keep their shape."""
    if isinstance(item, list | tuple):
        return [marker(x) for x in item]
    if isinstance(item, dict):
        return {kk: marker(vv) for kk, vv in item.items()}
    return marker(item)


_MAX_SAFE = 2**53 - 1
_SECRET_KEY = 1
_UNSAFE_KEY = 2  # sorts differently by code point and by UTF-16 unit (JCS fast path off)
_KEY_INFO: dict[str, int] = {}


def _key_info(key: Any) -> int:
    """Flags for an object key, memoised: payloads repeat the same few hundred keys."""
    if type(key) is not str:
        # a str subclass (an enum member) is a secret by its value like any key; it is
        # not cached, and canonicalising it is left to the reference implementation
        return _UNSAFE_KEY | (_SECRET_KEY if isinstance(key, str) and is_secret_key(key) else 0)
    info = _SECRET_KEY if is_secret_key(key) else 0
    if not key.isascii() and max(key) >= "\ue000":
        info |= _UNSAFE_KEY
    if len(_KEY_INFO) > 50_000:
        _KEY_INFO.clear()
    _KEY_INFO[key] = info
    return info


_CRED_START = frozenset("bBtTdD")
# A string needs a closer look only if it may start a credential ("Bearer …", also
# after leading white space) or may hold a URL query; everything else is kept as is.
# WHITESPACE is every character for which str.isspace() holds (a test checks it).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SUSPECT_START = _CRED_START | frozenset(WHITESPACE)


def _redact_str(value: str, marker: Any) -> Any:
    if value and value[0] in _SUSPECT_START and _CRED_VALUE.match(value):
        return marker(value)
    if "=" in value and ("?" in value or "&" in value):
        return _URL_SECRET.sub(lambda m: m.group(1) + MARKER, value)
    return value
