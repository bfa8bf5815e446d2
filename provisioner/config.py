"""Targets and their settings, from ``scimtrail.toml`` (or a bare URL on the command line).

::

    [targets.hr-app]
    url = "https://app.example.com/scim/v2"
    auth = { method = "command", command = "vault kv get -field=token secret/scim" }
    concurrency = 4
    require_approval = true

See examples/scimtrail.toml for every setting with its default.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioner.auth import (
    BearerToken,
    Credential,
    NoCredential,
    OAuth2ClientCredentials,
    SecretRef,
)
from provisioner.errors import ConfigError

DEFAULT_TOKEN_ENV = "SCIMTRAIL_SCIM_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    url: str
    auth: dict[str, Any] = field(
        default_factory=lambda: {"method": "env", "env": DEFAULT_TOKEN_ENV}
    )
    concurrency: int = 4
    rate_limit: float = 0.0  # requests per second, 0 = unlimited
    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    throttle_budget_s: float = 900.0  # 429s do not use up max_attempts; this bounds them
    page_size: int = 500
    member_batch: int = 200
    batch_size: int = 200
    ca_bundle: str | None = None
    pin_sha256: str | None = None
    insecure_http: bool = False
    require_approval: bool = False
    adopt_by_username: bool = False
    allow_delete: bool = False
    compensation: str = "none"  # none | quarantine | revert
    notify_webhook: str | None = None
    notify_file: str | None = None
    max_deprovision: int = 25
    max_deprovision_percent: float = 10.0
    breaker_auth_failures: int = 3
    breaker_error_rate: float = 0.5
    breaker_window: int = 50
    evidence_flush_every: int = 256
    evidence_flush_ms: float = 200.0

    def credential(self) -> Credential:
        a = self.auth
        method = a.get("method", "env")
        if method == "none":
            return NoCredential()
        if method == "oauth2":
            try:
                return OAuth2ClientCredentials(
                    str(a["token_url"]),
                    str(a["client_id"]),
                    _secret_ref(a.get("client_secret") or {}, f"target {self.name} client_secret"),
                    a.get("scope"),
                    a.get("client_auth", "basic"),
                )
            except KeyError as exc:
                raise ConfigError(
                    f"target {self.name}: oauth2 auth needs {exc.args[0]}",
                    "see examples/scimtrail.toml",
                ) from None
        return BearerToken(_secret_ref(a, f"target {self.name} auth"))

    def check_transport(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"target {self.name}: {self.url!r} is not an http(s) URL")
        if parts.scheme == "http" and not self.insecure_http and not is_loopback(parts.hostname):
            raise ConfigError(
                f"target {self.name}: plain http to {parts.hostname} would send the token in clear",
                "use https, or pass --insecure-http (only on a network you trust)",
            )
        if self.compensation not in ("none", "quarantine", "revert"):
            raise ConfigError(
                f"target {self.name}: compensation must be none, quarantine or revert"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _secret_ref(a: dict[str, Any], where: str) -> SecretRef:
    for method in ("env", "file", "command", "literal"):
        if a.get(method):
            return SecretRef(method, str(a[method]))
    raise ConfigError(f"{where}: give one of env, file or command")


_FIELDS = set(Target.__dataclass_fields__)


def load_config(path: str | Path | None) -> dict[str, Any]:
    """The parsed config file; ``{}`` when none is given and ./scimtrail.toml is absent."""
    chosen = path or os.environ.get("SCIMTRAIL_CONFIG")
    if chosen is None:
        if not Path("scimtrail.toml").exists():
            return {}
        chosen = "scimtrail.toml"
    try:
        with open(chosen, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {chosen}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {chosen} is not valid TOML: {exc}") from None


def resolve_target(
    spec: str,
    config: dict[str, Any],
    *,
    token_env: str = DEFAULT_TOKEN_ENV,
    overrides: dict[str, Any] | None = None,
) -> Target:
    """A target by name from the config, or a bare URL (token from ``token_env``)."""
    targets = config.get("targets") or {}
    if spec in targets:
        raw = dict(targets[spec])
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ConfigError(f"target {spec}: unknown setting(s) {', '.join(sorted(unknown))}")
        if "url" not in raw:
            raise ConfigError(f"target {spec}: needs url")
        t = Target(name=spec, **raw)
    elif "://" in spec:
        t = Target(name=spec, url=spec, auth={"method": "env", "env": token_env})
    else:
        known = ", ".join(sorted(targets)) or "none configured"
        raise ConfigError(
            f"unknown target {spec!r} (targets: {known})",
            "name a target from scimtrail.toml (--config) or give its URL",
        )
    if overrides:
        t = replace(t, **{k: v for k, v in overrides.items() if v is not None})
    t.check_transport()
    return t
