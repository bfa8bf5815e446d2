"""Evaluating evidence rules over a period: a rule is a check or a composition of rules.

:func:`evaluate` runs a rule of the catalogue with an internal control's parameters
(they override the rule's own ``params``), recursively for ``all_of``/``any_of``, and
memoises results per parameter set. The checks live in :mod:`reports.checks`, the values
(:class:`Status`, :class:`Finding`, :class:`RuleResult`) and the combination rules in
:mod:`reports.results`; both are re-exported here.
"""

from collections.abc import Mapping
from typing import Any

from reports.checks import CHECKS, Context
from reports.controls import AllOf, AnyOf, Catalogue, Check
from reports.results import (
    MAX_ROWS,
    SAMPLES,
    Finding,
    RuleResult,
    Status,
    combine_all,
    combine_any,
    status_from_counts,
)

__all__ = [
    "CHECKS",
    "MAX_ROWS",
    "SAMPLES",
    "Context",
    "Finding",
    "RuleResult",
    "Status",
    "combine_all",
    "combine_any",
    "evaluate",
    "status_from_counts",
]


def evaluate(
    catalogue: Catalogue, rule_id: str, ctx: Context, params: Mapping[str, Any]
) -> RuleResult:
    """Evaluate a rule (recursively) with the control's parameters."""
    memo: dict[str, RuleResult] = ctx.frames.cache.setdefault(
        f"rules:{sorted(params.items())!r}", {}
    )
    if rule_id in memo:
        return memo[rule_id]
    rule = catalogue.rules[rule_id]
    if isinstance(rule, Check):
        res = CHECKS[rule.check](ctx, {**rule.params, **params})
        res = RuleResult(
            rule_id,
            rule.check,
            res.status,
            res.reason,
            res.population,
            res.passed,
            res.exceptions,
            res.rows,
        )
    else:
        assert isinstance(rule, AllOf | AnyOf)
        parts = [evaluate(catalogue, p, ctx, params) for p in rule.rules]
        statuses = [p.status for p in parts]
        status = combine_all(statuses) if isinstance(rule, AllOf) else combine_any(statuses)
        word = "all of" if isinstance(rule, AllOf) else "any of"
        bad = [p for p in parts if p.status is not Status.covered]
        reason = f"{word}: " + "; ".join(f"{p.rule}: {p.reason}" for p in (bad or parts))
        res = RuleResult(
            rule_id,
            None,
            status,
            reason,
            sum(p.population for p in parts),
            sum(p.passed for p in parts),
            sum(p.exceptions for p in parts),
            (),
            tuple(parts),
        )
    memo[rule_id] = res
    return res
