"""Errors raised by the provisioning engine.

Every error derives from :class:`evidence.errors.ScimtrailError`; its
``diagnostics()`` says what failed and what to do next. Messages are built from
fields (file and row, SCIM id, target name) and never contain a token.

The tree::

    ScimtrailError (evidence.errors)
    └── ProvisionError                 provisioning problems the user can act on; exit 1
        ├── ConfigError                config file, target or option is wrong
        ├── SecretUnavailable          token env var / file / command / OAuth2 failed
        ├── MappingError               the mapping YAML is invalid (names the key)
        ├── SourceError                an HR file cannot be read at all
        │   └── InvalidRows            rows were rejected and --skip-invalid was not given
        ├── PlanError                  a plan cannot be made or used
        │   ├── PlanStale              the target changed underneath a reviewed plan
        │   ├── ApprovalRequired       require_approval and no approval by another actor
        │   └── MassDeprovision        deactivations/deletions above the threshold
        └── ScimError                  talking to the target failed
            ├── ScimUnavailable        connection, TLS or timeout after all retries
            ├── ScimRefused            an HTTP error status after all retries
            ├── PinMismatch            the server certificate is not the pinned one
            ├── CircuitOpen            the breaker stopped the target (401/403, error spike)
            └── EvidenceUnavailable    the ledger could not take the exchanges: run stopped
"""

from __future__ import annotations

from collections.abc import Sequence

from evidence.errors import ScimtrailError


class ProvisionError(ScimtrailError):
    """A provisioning problem the user can act on."""


class ConfigError(ProvisionError):
    """A config file, target name or option is wrong; the message names it (exit 2)."""

    exit_code = 2


class SecretUnavailable(ProvisionError):
    def __init__(self, method: str, where: str, reason: str) -> None:
        super().__init__(
            f"cannot obtain the target's credential ({method} {where}): {reason}",
            "check the target's auth settings in scimtrail.toml or --token-env; the secret "
            "itself is never printed",
        )
        self.method = method
        self.where = where


class MappingError(ProvisionError):
    def __init__(self, path: str, key: str, reason: str) -> None:
        super().__init__(
            f"mapping {path}: {key}: {reason}",
            "see docs/mapping.md; `scimtrail provision check-mapping` shows the payload a "
            "mapping produces",
        )
        self.path = path
        self.key = key


class SourceError(ProvisionError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"HR source {path}: {reason}",
            "check the file and the `source` section of the mapping (column names)",
        )
        self.path = path


class InvalidRows(SourceError):
    def __init__(self, path: str, problems: Sequence[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        ProvisionError.__init__(
            self,
            f"HR source {path}: {len(problems)} invalid row(s); refusing to plan:\n  {shown}{more}",
            "fix the rows at the source, or pass --skip-invalid to provision the valid rows "
            "(the rejected rows are recorded in the ledger either way)",
        )
        self.path = path
        self.problems = list(problems)


class PlanError(ProvisionError):
    """A plan cannot be made or used."""


class PlanStale(PlanError):
    def __init__(self, plan_hash: str, problems: Sequence[str]) -> None:
        shown = "\n  ".join(problems[:20])
        super().__init__(
            f"plan {plan_hash[:16]} no longer matches the target ({len(problems)} "
            f"change(s) invalidated):\n  {shown}",
            "the target changed since the plan was made; run `scimtrail provision plan` again "
            "and review the new plan",
        )
        self.problems = list(problems)


class ApprovalRequired(PlanError):
    def __init__(self, plan_hash: str, planned_by: str) -> None:
        super().__init__(
            f"plan {plan_hash[:16]} needs an approval by someone other than {planned_by!r} "
            "(require_approval is set for this target)",
            "have a second person run `scimtrail provision approve PLAN.json` (segregation of "
            "duties, ECC 2-2-3-3)",
        )


class MassDeprovision(PlanError):
    def __init__(self, count: int, total: int, limit: str) -> None:
        super().__init__(
            f"the plan deactivates or deletes {count} of {total} account(s), above the "
            f"threshold ({limit}); nothing was applied",
            "check the HR file (truncated export? wrong scope?); if this is intended, rerun "
            "with --allow-mass-deprovision",
        )
        self.count = count


class ScimError(ProvisionError):
    """Talking to the target failed."""


class ScimUnavailable(ScimError):
    def __init__(self, target: str, reason: str) -> None:
        super().__init__(
            f"SCIM target {target} is unavailable: {reason}",
            "check the URL, network and TLS settings; rerun: the run converges without duplicates",
        )


class ScimRefused(ScimError):
    def __init__(self, target: str, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(
            f"SCIM target {target} answered {status} to {method} {path}: {detail}",
            "see the scim.exchange entries of this run in the ledger for the full exchange",
        )
        self.status = status


class PinMismatch(ScimError):
    def __init__(self, target: str, got: str) -> None:
        super().__init__(
            f"SCIM target {target} presented a certificate with SHA-256 {got}, not the pinned "
            "one; nothing was sent",
            "if the certificate was rotated on purpose, update pin_sha256 in the target config",
        )


class CircuitOpen(ScimError):
    def __init__(self, target: str, reason: str) -> None:
        super().__init__(
            f"circuit breaker opened for target {target}: {reason}; remaining changes skipped",
            "see docs/runbook.md (circuit breaker): check the credential and the target's "
            "health, then rerun",
        )
        self.reason = reason


class EvidenceUnavailable(ScimError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the ledger stopped taking evidence ({reason}); the run was stopped so that no "
            "exchange goes unrecorded",
            "fix the ledger database, then rerun: the rerun re-reads the target and converges",
        )
