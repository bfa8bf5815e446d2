"""Errors raised while building or verifying an audit pack.

The tree (every class derives from :class:`evidence.errors.ScimtrailError`)::

    ScimtrailError
    ├── PackError                      the pack cannot be built; exit 1
    │   ├── PackOptionError            a bad period, sample size, seed or path
    │   └── SigningSetupError          key or certificate missing, unreadable or of the wrong type
    └── IntegrityError                 exit 3
        └── PackMismatch               verify-pack found something that does not match; names it
"""

from __future__ import annotations

from evidence.errors import IntegrityError, ScimtrailError


class PackError(ScimtrailError):
    """The audit pack cannot be built; the message says why."""


class PackOptionError(PackError):
    def __init__(self, option: str, value: object, expected: str) -> None:
        super().__init__(
            f"{option} {value!r} is not usable: expected {expected}",
            "run `scimtrail report pack --help` for the accepted forms",
        )
        self.option = option


class SigningSetupError(PackError):
    def __init__(self, path: object, reason: str) -> None:
        super().__init__(
            f"cannot use {path} for signing the pack: {reason}",
            "pass --sign-key/--sign-cert (PEM private key and X.509 certificate) or set "
            "SCIMTRAIL_PACK_KEY / SCIMTRAIL_PACK_CERT",
        )
        self.path = path


class PackMismatch(IntegrityError):
    """verify-pack found a mismatch: ``item`` is what failed, ``detail`` how."""

    def __init__(self, item: str, detail: str) -> None:
        super().__init__(
            f"MISMATCH in {item}: {detail}",
            "do not rely on this pack; ask the issuer for a fresh copy and compare with the "
            "hash recorded in their ledger (report.generated entry)",
        )
        self.item = item
        self.detail = detail


__all__ = ["PackError", "PackMismatch", "PackOptionError", "SigningSetupError"]
