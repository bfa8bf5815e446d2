"""The library surface for callers that are not the CLI (``make demo``, scripts, tests).

Example — provision an HR file against a loopback target, recording into a ledger::

    from provisioner.api import provision
    result = provision("examples/hr.csv", target_url="http://127.0.0.1:8400/v2",
                       db="demo-out/scimtrail.db", token="s3cret")
    assert result.ok, result.failures

The ledger at ``db`` must exist (``evidence.ledger.Ledger.init(db)`` creates it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from evidence.ledger import Ledger
from provisioner import mapping as mp
from provisioner import sources
from provisioner.apply import (
    RunContext,
    RunResult,
    apply_run,
    default_actor,
    plan_run,
    refuse_invalid,
)
from provisioner.config import Target, resolve_target

DEFAULT_MAPPING = Path(__file__).resolve().parent.parent / "examples" / "mapping.yaml"


def _target(
    target_url: str, token: str | None, target: Target | None, settings: dict[str, Any]
) -> Target:
    if target is not None:
        return target
    auth = {"method": "literal", "literal": token} if token else {"method": "none"}
    return resolve_target(target_url, {}, overrides={"auth": auth, **settings})


def provision(
    hr_file: str | Path,
    *,
    target_url: str = "",
    db: str,
    token: str | None = None,
    mapping: str | Path = DEFAULT_MAPPING,
    actor: str | None = None,
    target: Target | None = None,
    transport: Any = None,
    skip_invalid: bool = False,
    allow_mass_deprovision: bool = False,
    only: Iterable[str] | None = None,
    today: date | None = None,
    dry_run: bool = False,
    **settings: Any,
) -> RunResult:
    """Read ``hr_file``, plan against the target and (unless ``dry_run``) apply.

    ``settings`` are target settings (``concurrency``, ``compensation``, …, see
    :class:`provisioner.config.Target`). Raises a ``ScimtrailError`` subclass on
    errors that stop the run; per-change failures are in ``result.failures``.
    """
    m = mp.load(mapping)
    src = sources.read(hr_file, m)
    t = _target(target_url, token, target, settings)
    with Ledger.open(db) as ledger:
        rc = RunContext(t, m, ledger, default_actor(actor), transport=transport, today=today)
        refuse_invalid(rc, src, skip_invalid)  # records the rejected rows either way
        if dry_run:
            return plan_run(rc, src, only=only)
        return apply_run(rc, src, allow_mass_deprovision=allow_mass_deprovision, only=only)
