"""Record a JUnit XML report as a ``test.run`` entry tied to the commit it tested.

The report is parsed with defusedxml (no entity expansion, no external entities).
Accepted shapes: a ``<testsuites>`` root with ``<testsuite>`` children, or a single
``<testsuite>`` root. Counts come from the ``<testcase>`` elements when present
(``failure``/``error``/``skipped`` children), else from the suite attributes. The
file's SHA-256 is the idempotency key: recording the same report twice adds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from evidence.collectors import Collected
from evidence.collectors.common import default_actor, open_repo, resolve_commit
from evidence.collectors.errors import MalformedJUnit
from evidence.ledger import Ledger
from evidence.model import NewEntry

KIND = "test.run"
MAX_FAILED_NAMES = 200


@dataclass(frozen=True, slots=True)
class JUnitSummary:
    suite: str
    tests: int
    failures: int
    errors: int
    skipped: int
    duration_s: float
    started_at: str | None
    failed_tests: tuple[str, ...]
    sha256: str

    @property
    def passed(self) -> bool:
        """A run passes when it ran at least one test and none failed or errored."""
        return self.tests > 0 and self.failures == 0 and self.errors == 0


def _int(file: str, el: Element, attr: str) -> int:
    raw = el.get(attr)
    if raw is None:
        return 0
    try:
        value = int(float(raw))
    except ValueError as exc:
        raise MalformedJUnit(file, f"<{el.tag} {attr}={raw!r}> is not a number") from exc
    if value < 0:
        raise MalformedJUnit(file, f"<{el.tag} {attr}={raw!r}> is negative")
    return value


def _float(file: str, el: Element, attr: str) -> float:
    raw = el.get(attr)
    try:
        return float(raw) if raw else 0.0
    except ValueError as exc:
        raise MalformedJUnit(file, f"<{el.tag} {attr}={raw!r}> is not a number") from exc


def parse_junit(path: str | Path) -> JUnitSummary:
    """Summarise a JUnit XML file; :class:`MalformedJUnit` if it is not one."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MalformedJUnit(file, exc.strerror or "cannot read the file") from exc
    try:
        root = SafeET.fromstring(data)
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise MalformedJUnit(file, f"invalid XML ({exc.msg if hasattr(exc, 'msg') else exc})",
                             line) from exc  # fmt: skip
    except DefusedXmlException as exc:
        raise MalformedJUnit(file, f"refused unsafe XML ({type(exc).__name__})") from exc
    if root.tag == "testsuites":
        suites = list(root.iter("testsuite"))
    elif root.tag == "testsuite":
        suites = [root]
    else:
        raise MalformedJUnit(
            file, f"root element is <{root.tag}>, expected <testsuites> or <testsuite>"
        )
    if not suites:
        raise MalformedJUnit(file, "no <testsuite> element")
    tests = failures = errors = skipped = 0
    duration = 0.0
    failed: list[str] = []
    for s in suites:
        cases = list(s.iter("testcase"))
        if cases:
            for c in cases:
                name = "::".join(x for x in (c.get("classname"), c.get("name")) if x)
                tests += 1
                if c.find("failure") is not None:
                    failures += 1
                    failed.append(name)
                elif c.find("error") is not None:
                    errors += 1
                    failed.append(name)
                elif c.find("skipped") is not None:
                    skipped += 1
        else:
            tests += _int(file, s, "tests")
            failures += _int(file, s, "failures")
            errors += _int(file, s, "errors")
            skipped += _int(file, s, "skipped") or _int(file, s, "skips")
        duration += _float(file, s, "time")
    if root.tag == "testsuites" and root.get("time"):
        duration = _float(file, root, "time")
    first = suites[0]
    return JUnitSummary(
        suite=str(first.get("name") or root.get("name") or "tests"),
        tests=tests,
        failures=failures,
        errors=errors,
        skipped=skipped,
        duration_s=round(duration, 3),
        started_at=first.get("timestamp"),
        failed_tests=tuple(failed[:MAX_FAILED_NAMES]),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def run_payload(
    summary: JUnitSummary, commit: str, *, source: str, suite: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "commit": commit,
        "suite": suite or summary.suite,
        "tests": summary.tests,
        "failures": summary.failures,
        "errors": summary.errors,
        "skipped": summary.skipped,
        "passed": summary.passed,
        "duration_s": summary.duration_s,
        "started_at": summary.started_at,
        "junit_sha256": summary.sha256,
        "source": source,
        "failed_tests": list(summary.failed_tests),
    }
    return payload


def record_junit(
    ledger: Ledger,
    junit_xml: str | Path,
    commit: str,
    *,
    repo: str | Path = ".",
    suite: str | None = None,
    actor: str | None = None,
) -> Collected:
    """Record the report as a test run of ``commit`` (resolved in ``repo``); once only."""
    summary = parse_junit(junit_xml)
    sha = resolve_commit(open_repo(repo), commit).hexsha
    payload = run_payload(summary, sha, source="junit", suite=suite)
    once = ledger.append_once(
        [NewEntry(KIND, payload, actor or default_actor())],
        lambda p: (p.get("junit_sha256"), p.get("commit")),
    )
    if not once.appended:
        return Collected(KIND, (), 1, ())
    return Collected(KIND, (once.appended[0].seq,), 0, (summary.sha256,))
