"""The control catalogue's values: frameworks, requirements, internal controls, mappings,
crosswalk edges and evidence rules (frozen dataclasses), and the vocabularies they use.

Loaded and validated by :func:`reports.controls.load_catalogue`; see ``docs/controls.md``.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingT
from dataclasses import dataclass, field
from typing import Any

RELATIONSHIPS = ("equal", "subset", "superset", "intersects")
COVERAGES = ("full", "partial")
CONTROL_TYPES = ("automated", "manual", "it-dependent manual")
FREQUENCIES = (
    "continuous",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semi-annual",
    "annual",
    "per-change",
)
OPERATIONS = (
    "create",
    "update",
    "deactivate",
    "reactivate",
    "delete",
    "group_create",
    "membership_add",
    "membership_remove",
)
#: The built-in checks an evidence rule may name (implemented in reports/checks.py).
KNOWN_CHECKS = frozenset(
    {
        "leavers_within_sla",
        "operations_succeed",
        "runs_complete",
        "exchanges_logged",
        "config_tested_before_use",
        "config_changes_approved",
        "ledger_verifies",
        "log_retention",
        "auth_from_secrets_source",
        "access_review_signed_off",
        "reconcile_no_orphans",
    }
)


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    version: str
    publisher: str
    source: str
    retrieved: str
    text_kind: str  # verbatim | paraphrase | third-party rendering
    note: str


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str  # "<framework>:<ref>", e.g. nca-ecc-2:2-2-3-5
    framework: str
    ref: str
    title: str
    text: str
    text_ar: str | None
    text_kind: str
    parent: str | None
    content_hash: str
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    authoritative: bool
    note: str


@dataclass(frozen=True, slots=True)
class InternalControl:
    id: str
    version: int
    title: str
    statement: str
    owner: str
    frequency: str
    type: str
    nature: str
    key: bool
    aliases: tuple[Alias, ...]
    parameters: MappingT[str, Any]
    evidence: str  # rule id
    operations: tuple[str, ...]
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Mapping:
    control: str
    requirement: str
    relationship: str
    coverage: str
    rationale: str
    reviewer: str
    reviewed: str
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class Crosswalk:
    source: str
    target: str
    relationship: str
    note: str


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    check: str
    params: MappingT[str, Any]
    description: str


@dataclass(frozen=True, slots=True)
class AllOf:
    id: str
    rules: tuple[str, ...]
    description: str

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("AllOf([]) is refused: an empty conjunction proves nothing")


@dataclass(frozen=True, slots=True)
class AnyOf:
    id: str
    rules: tuple[str, ...]
    description: str

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("AnyOf([]) is refused: it can never be satisfied")


Rule = Check | AllOf | AnyOf


@dataclass(frozen=True, slots=True)
class Catalogue:
    path: str
    digest: str  # SHA-256 over the catalogue files, in name order
    frameworks: MappingT[str, Framework]
    requirements: MappingT[str, Requirement]  # in file order
    controls: MappingT[str, InternalControl]
    mappings: tuple[Mapping, ...]
    rules: MappingT[str, Rule]
    crosswalk: tuple[Crosswalk, ...] = field(default=())

    def children(self, req_id: str) -> list[Requirement]:
        return [r for r in self.requirements.values() if r.parent == req_id]

    def mappings_to(self, req_id: str) -> list[Mapping]:
        return [m for m in self.mappings if m.requirement == req_id]

    def mappings_from(self, control_id: str) -> list[Mapping]:
        return [m for m in self.mappings if m.control == control_id]

    def controls_for_operation(self, op: str) -> list[InternalControl]:
        return [c for c in self.controls.values() if op in c.operations]
