"""The reading side of scimtrail: control catalogue, coverage, metrics and audit packs.

Public API (details and an example in :mod:`reports.coverage`)::

    reports.controls.load_catalogue(path=None) -> Catalogue
    reports.periods.parse_period("2026-Q3") / resolve_period(period, from_, to) -> Period
    reports.frames.load_frames(ledger, period) -> Frames          # one streaming read, shareable
    reports.coverage.compute_coverage(ledger, period, framework=None, *, catalogue=None,
                                      frames=None, verify=True) -> Coverage
    reports.metrics.compute_metrics(ledger, period, sla=None, *, frames=None) -> Metrics
    reports.coverage.sla_of(catalogue) -> Sla                     # the SLA the catalogue sets

``Coverage.requirements`` / ``.controls`` carry status, one-line reason, evidence
counts and (controls) the rule result with its deciding rows; ``Coverage.operations``
is the computed operation → requirement → evidence table; ``Coverage.explain(id)``
drills down. Everything is a frozen dataclass with ``as_dict()``.
"""
