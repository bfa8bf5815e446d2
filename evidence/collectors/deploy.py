"""Record a deployment of a provisioning commit as a ``deploy`` entry.

The commit must exist in the repository; the job URL must be http(s) and carry no
credentials. The same (env, commit, job URL) is recorded once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from evidence.collectors import Collected
from evidence.collectors.common import (
    default_actor,
    open_repo,
    repo_label,
    resolve_commit,
    strip_credentials,
)
from evidence.collectors.errors import BadDeployInput
from evidence.ledger import Ledger
from evidence.model import NewEntry

KIND = "deploy"
_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$")


def _check_url(job_url: str) -> None:
    parts = urlsplit(job_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadDeployInput(
            "--job-url", strip_credentials(job_url), "an http(s) URL of the CI job"
        )
    if parts.username is not None or parts.password is not None:
        raise BadDeployInput(
            "--job-url", strip_credentials(job_url), "a URL without user name or password"
        )


def _check_time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadDeployInput(
            "--at", value, "an ISO 8601 time such as 2026-07-01T12:00:00Z"
        ) from exc
    if parsed.tzinfo is None:
        raise BadDeployInput("--at", value, "a time with a zone (…Z or +03:00)")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_deploy(
    ledger: Ledger,
    env: str,
    commit: str,
    job_url: str,
    *,
    repo: str | Path = ".",
    deployed_at: str | None = None,
    actor: str | None = None,
) -> Collected:
    """Record that ``commit`` was deployed to ``env`` by the CI job at ``job_url``; once."""
    if not _ENV.match(env):
        raise BadDeployInput("--env", env, "a name such as prod, staging or eu-prod")
    _check_url(job_url)
    at = _check_time(deployed_at) if deployed_at else None
    git_repo = open_repo(repo)
    sha = resolve_commit(git_repo, commit).hexsha
    payload = {"env": env, "commit": sha, "job_url": job_url, "repo": repo_label(git_repo)}
    if at is not None:
        payload["deployed_at"] = at
    once = ledger.append_once(
        [NewEntry(KIND, payload, actor or default_actor())],
        lambda p: (p.get("env"), p.get("commit"), p.get("job_url")),
    )
    if not once.appended:
        return Collected(KIND, (), 1, ())
    return Collected(KIND, (once.appended[0].seq,), 0, (f"{env}@{sha[:12]}",))
