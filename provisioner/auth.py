"""Credentials for a SCIM target: bearer tokens and OAuth2 client credentials.

A bearer token comes from an environment variable, a file, or a command's output (so
Vault, Azure Key Vault, 1Password … work without coupling). OAuth2 client credentials
fetch a token from the token endpoint, cache it until shortly before it expires, and
refresh once when the target answers 401. Secrets live in :class:`Secret` values whose
``repr`` and ``str`` never show them; messages name where a secret comes from, never
what it is.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.errors import SecretUnavailable


class Secret:
    """A secret string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret comes from: ``env``, ``file``, ``command`` or ``literal`` (tests)."""

    method: str
    where: str

    def load(self) -> Secret:
        if self.method == "env":
            v = os.environ.get(self.where)
            if not v:
                raise SecretUnavailable("env", self.where, "the variable is not set or empty")
            return Secret(v.strip())
        if self.method == "file":
            try:
                v = Path(self.where).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretUnavailable("file", self.where, exc.strerror or "unreadable") from None
            if not v:
                raise SecretUnavailable("file", self.where, "the file is empty")
            return Secret(v)
        if self.method == "command":
            try:
                done = subprocess.run(
                    shlex.split(self.where), capture_output=True, timeout=60, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SecretUnavailable(
                    "command", _cmd_name(self.where), type(exc).__name__
                ) from None
            if done.returncode != 0:
                # Its output may hold the secret: show neither stdout nor stderr.
                raise SecretUnavailable(
                    "command", _cmd_name(self.where), f"exited with status {done.returncode}"
                )
            v = done.stdout.decode("utf-8", "replace").strip()
            if not v:
                raise SecretUnavailable("command", _cmd_name(self.where), "printed nothing")
            return Secret(v)
        if self.method == "literal":
            return Secret(self.where)
        raise SecretUnavailable(self.method, "?", "unknown secret source (env, file, command)")


def _cmd_name(command: str) -> str:
    parts = shlex.split(command)
    return parts[0] if parts else "(empty command)"


class Credential:
    """What the transport asks for an Authorization header."""

    method = "none"

    def header(self) -> str | None:
        return None

    def refresh(self, used: str | None = None) -> bool:
        """Get a fresh credential after a 401; False when that is not possible.

        ``used`` is the Authorization header the refused request carried: when the
        credential has changed since (a concurrent request refreshed it), nothing is
        fetched again and the caller retries with the current one.
        """
        return False

    def describe(self) -> dict[str, Any]:
        return {"method": self.method}


class NoCredential(Credential):
    pass


class BearerToken(Credential):
    def __init__(self, ref: SecretRef) -> None:
        self.ref = ref
        self.method = ref.method
        self._secret = ref.load()

    def header(self) -> str:
        return f"Bearer {self._secret.reveal()}"

    def refresh(self, used: str | None = None) -> bool:
        if used is not None and used != self.header():
            return True  # reloaded meanwhile by a concurrent request
        if self.ref.method in ("file", "command"):  # a rotated secret may be there now
            fresh = self.ref.load()
            changed = fresh.reveal() != self._secret.reveal()
            self._secret = fresh
            return changed
        return False


#: (url, form fields, basic-auth pair or None) → decoded JSON response
TokenPoster = Callable[[str, Mapping[str, str], tuple[str, str] | None], Mapping[str, Any]]


class OAuth2ClientCredentials(Credential):
    method = "oauth2"

    def __init__(
        self,
        token_url: str,
        client_id: str,
        secret: SecretRef,
        scope: str | None = None,
        client_auth: str = "basic",
        margin_s: float = 60.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.secret_ref = secret
        self.scope = scope
        self.client_auth = client_auth
        self.margin_s = margin_s
        self.poster: TokenPoster | None = None
        self._token: Secret | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        if self.poster is None:
            raise SecretUnavailable("oauth2", self.token_url, "no HTTP client attached")
        secret = self.secret_ref.load().reveal()
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        basic: tuple[str, str] | None = None
        if self.client_auth == "post":
            form["client_id"] = self.client_id
            form["client_secret"] = secret
        else:
            basic = (self.client_id, secret)
        data = self.poster(self.token_url, form, basic)
        tok = data.get("access_token")
        if not isinstance(tok, str) or not tok:
            raise SecretUnavailable("oauth2", self.token_url, "the response has no access_token")
        try:
            ttl = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            ttl = 3600.0
        self._token = Secret(tok)
        self._expires = time.monotonic() + max(ttl - self.margin_s, 0.0)

    def _bearer(self) -> str | None:
        return None if self._token is None else f"Bearer {self._token.reveal()}"

    def header(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._fetch()
            current = self._bearer()
            assert current is not None
            return current

    def refresh(self, used: str | None = None) -> bool:
        with self._lock:
            if used is None or used == self._bearer():  # one fetch for concurrent 401s
                self._fetch()
        return True

    def describe(self) -> dict[str, Any]:
        return {"method": "oauth2", "token_url": self.token_url, "client_id": self.client_id}
