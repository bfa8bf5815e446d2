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
        """A copy of ``value`` with every secret replaced; the input is left unchanged."""
        t = type(value)
        if t is dict:
            out: dict[Any, Any] = {}
            for k, v in value.items():
                if isinstance(k, str) and is_secret_key(k) and v is not None:
                    if isinstance(v, list):
                        out[k] = [self.marker(x) for x in v]
                    elif isinstance(v, dict):
                        out[k] = {kk: self.marker(vv) for kk, vv in v.items()}
                    else:
                        out[k] = self.marker(v)
                else:
                    out[k] = self.redact(v)
            return out
        if t is list or t is tuple:
            return [self.redact(v) for v in value]
        if t is str:
            if _CRED_VALUE.match(value):
                return self.marker(value)
            if "=" in value and ("?" in value or "&" in value):
                return _URL_SECRET.sub(lambda m: m.group(1) + MARKER, value)
            return value
        return value
