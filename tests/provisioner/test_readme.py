"""The README's "Provisioning" walkthrough works when pasted; docs cannot drift."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Provisioning")
    end = text.find("\n## ", start + 10)
    return text[start : end if end != -1 else len(text)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_provision_command_has_help_and_a_readme_example() -> None:
    from scimtrail.cli import main

    section = _section()
    for name in ("check-mapping", "plan", "approve", "apply", "reconcile", "serve"):
        assert f"scimtrail provision {name}" in section, name
        assert main(["provision", name, "--help"]) == 0


def test_the_mapping_doc_shows_the_example_mapping() -> None:
    doc = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")
    example = (ROOT / "examples" / "mapping.yaml").read_text(encoding="utf-8")
    body = example.split("\n", 1)[1].strip()  # without the first comment line
    assert body in doc


@pytest.mark.slow
def test_the_walkthrough_runs_as_pasted(tmp_path: Path) -> None:
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    # the same commands, on ports nobody else uses
    scim, hook = str(_free_port()), str(_free_port())
    blocks = re.findall(r"```sh\n(.*?)```", _section(), re.S)
    script = "\n".join(blocks).replace("8400", scim).replace("8088", hook)
    toml = clone / "examples" / "scimtrail.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("8400", scim), encoding="utf-8")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    for var in ("SCIMTRAIL_DB", "SCIMTRAIL_CONFIG", "SCIMTRAIL_SCIM_TOKEN"):
        env.pop(var, None)
    proc = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        # the servers the walkthrough started, if it stopped before its `kill`
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "applied: group_create 33, create 27, membership_add 54" in out
    assert "applied: no changes" in out
    assert "step: create E1033" in out
    assert '"status": "accepted"' in out
    assert "OK: " in out
