"""The README's "Evidence collection and coverage" commands work when pasted.

They run with bash in a clone of this repository (so nothing is written to the working
tree), with the clone's .venv pointing at ours and `scimtrail` on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Evidence collection and coverage")
    end = text.find("\n## ", start + 10)
    return text[start : end if end != -1 else len(text)]


def _blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", _section(), re.S)


def test_every_command_in_the_section_is_a_real_command() -> None:
    from scimtrail.cli import main

    for block in _blocks():
        for line in block.splitlines():
            if line.startswith("scimtrail "):
                words = line.split()
                sub = [w for w in words[1:3] if not w.startswith("-")]
                assert main([*sub, "--help"]) == 0, line


@pytest.mark.slow
def test_the_section_runs_as_pasted(tmp_path: Path) -> None:
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    script = "set -euo pipefail\n" + "\n".join(_blocks())
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("SCIMTRAIL_DB", None)
    proc = subprocess.run(
        ["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "recorded 1 test run" in proc.stdout
    assert "scimtrail: recorded test run of" in proc.stdout
    assert '"requirements"' in (clone / "coverage.json").read_text()
    assert (clone / "coverage.csv").read_text().startswith("id,kind,status")
