"""Errors raised by the evidence ledger.

Every error scimtrail raises derives from :class:`ScimtrailError`, whose
:meth:`~ScimtrailError.diagnostics` says what failed and what to do next. The
CLIs catch that one base class, print the diagnostics and exit 1 (3 for
integrity failures). Messages are built from fields and never contain secrets.

The tree::

    ScimtrailError                     base: diagnostics() says what next; exit 1
    ├── LedgerError                    ledger problems the user can fix
    │   ├── DatabaseUnavailable        path or URL cannot be opened
    │   ├── SchemaOutdated             behind the latest migration: run `ledger init`
    │   ├── NotALedger                 database of another schema
    │   ├── InvalidPayload             not I-JSON (NaN, huge int, lone surrogate)
    │   ├── InvalidInput               a bad argument: unknown seq, malformed JSON, bad file
    │   ├── KeyProblem                 key missing, unreadable or of the wrong type
    │   └── ErasureRefused             erasure of an entry that cannot be erased
    └── IntegrityError                 verification failed: exit 3
        ├── LedgerTampered             stored chain differs from what was appended
        ├── CheckpointMismatch         bad signature, or inconsistent with a checkpoint
        └── ProofInvalid               an inclusion or consistency proof does not verify
"""

from __future__ import annotations

from enum import StrEnum


class ScimtrailError(Exception):
    """Base of every scimtrail error; ``diagnostics()`` is what the CLI prints."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """The message, then what to do next when we know it."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class LedgerError(ScimtrailError):
    """A problem with the ledger the user can act on."""


class DatabaseUnavailable(LedgerError):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(
            f"cannot open ledger database {where}: {reason}",
            "check --db / SCIMTRAIL_DB; a new SQLite ledger is created by `scimtrail ledger init`",
        )
        self.where = where


class SchemaOutdated(LedgerError):
    def __init__(self, where: str, current: str | None, head: str) -> None:
        found = current or "no schema"
        super().__init__(
            f"ledger database {where} is at revision {found}, this scimtrail needs {head}",
            f"run `scimtrail ledger init --db {where}` to bring it to the latest revision",
        )


class NotALedger(LedgerError):
    def __init__(self, where: str, revision: str) -> None:
        super().__init__(
            f"database {where} has an unknown schema revision {revision!r}; it is not a scimtrail "
            "ledger or was written by a newer scimtrail",
            "point --db at a scimtrail ledger, or upgrade scimtrail",
        )


class InvalidPayload(LedgerError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            f"payload cannot be recorded: {reason}",
            "payloads must be I-JSON (RFC 7493): finite numbers, integers within ±(2^53-1), "
            "valid Unicode strings",
        )


class InvalidInput(LedgerError):
    """A bad argument or input file; the message names it."""


class KeyProblem(LedgerError):
    """A signing or public key is missing, unreadable or of the wrong type."""


class ErasureRefused(LedgerError):
    """The entry cannot be erased (unknown, already erased, or itself structural)."""


class Fault(StrEnum):
    """The kinds of damage ``verify`` tells apart."""

    PAYLOAD_CHANGED = "payload changed"
    PAYLOAD_MISSING = "payload missing without an erasure entry"
    ENTRY_CHANGED = "entry changed"
    ENTRY_MISSING = "entry missing (gap)"
    REORDERED = "entries reordered"
    INSERTED = "entry inserted"
    TRUNCATED = "chain truncated relative to a checkpoint"
    REWRITTEN = "chain rewritten relative to a checkpoint"
    BAD_SIGNATURE = "checkpoint signature invalid"
    MALFORMED = "malformed record"


class IntegrityError(ScimtrailError):
    """Verification failed; scripts get exit code 3."""

    exit_code = 3


class LedgerTampered(IntegrityError):
    def __init__(self, seq: int, fault: Fault, detail: str) -> None:
        super().__init__(
            f"TAMPERED at seq {seq}: {fault.value}: {detail}",
            "do not trust entries from this seq on; compare with an export or checkpoint kept "
            "elsewhere and follow docs/runbook.md",
        )
        self.seq = seq
        self.fault = fault
        self.detail = detail


class CheckpointMismatch(IntegrityError):
    def __init__(self, fault: Fault, detail: str, seq: int | None = None) -> None:
        where = f" at seq {seq}" if seq is not None else ""
        super().__init__(
            f"TAMPERED{where}: {fault.value}: {detail}",
            "the ledger no longer matches a checkpoint signed earlier; treat it as rewritten",
        )
        self.seq = seq
        self.fault = fault
        self.detail = detail


class ProofInvalid(IntegrityError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"proof does not verify: {detail}")
        self.detail = detail
