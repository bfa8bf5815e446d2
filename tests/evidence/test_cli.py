"""`scimtrail ledger …` from the outside: help, README examples, exit codes, bad input, secrets."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.ledger import Ledger
from scimtrail.cli import app, main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CANARY = "canary-5f1d2e9a7b3c4d6e8f0a1b2c3d4e5f60"


def ledger_commands() -> list[str]:
    group = next(g for g in app.registered_groups if g.name == "ledger")
    assert group.typer_instance is not None
    return sorted(
        c.name or (c.callback.__name__ if c.callback else "")
        for c in group.typer_instance.registered_commands
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_ledger_command_has_help_and_a_readme_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = ledger_commands()
    assert {"init", "append", "show", "verify", "checkpoint", "prove", "export", "erase"} <= set(
        commands
    )
    for name in commands:
        code, out, _ = run(capsys, "ledger", name, "--help")
        assert code == 0
        assert "Usage" in out
        assert f"scimtrail ledger {name}" in README, f"README has no example of `ledger {name}`"


def test_the_readme_ledger_walkthrough_runs_as_pasted(tmp_path: Path) -> None:
    section = README.split("## The evidence ledger", 1)[1]
    script = re.search(r"```sh\n(.*?)```", section, re.S)
    assert script is not None
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("SCIMTRAIL_DB", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "OK: entry 1 is included in the checkpoint of size 1" in done.stdout
    assert re.search(r"^OK: 5 entries, head [0-9a-f]{64} \(1 payloads erased", done.stdout, re.M)


def test_verify_exits_3_and_names_the_seq_when_the_database_was_tampered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "l.db")
    assert run(capsys, "ledger", "init", "--db", db)[0] == 0
    for i in range(5):
        assert (
            run(
                capsys,
                "ledger",
                "append",
                "--db",
                db,
                "--kind",
                "note",
                "--actor",
                "a",
                "--json",
                f'{{"i": {i}}}',
            )[0]
            == 0
        )
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER ledger_entries_no_update")
    con.execute("UPDATE ledger_entries SET body = CAST('{\"i\":9}' AS BLOB) WHERE seq = 4")
    con.commit()
    con.close()
    code, out, err = run(capsys, "ledger", "verify", "--db", db)
    assert code == 3
    assert "TAMPERED at seq 4: payload changed" in err
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["append", "--kind", "note", "--actor", "a", "--json", '{"a": 1'],
            "--json is not valid JSON",
        ),
        (["append", "--kind", "note", "--actor", "a", "--json", "[1, 2]"], "must be a JSON object"),
        (
            ["append", "--kind", "Not A Kind", "--actor", "a", "--json", "{}"],
            "is not a dotted lower-case",
        ),
        (["append", "--kind", "note", "--actor", "a", "--json", '{"x": NaN}'], "not finite"),
        (["show", "--seq", "99"], "no entry with seq 99"),
        (["erase", "--seq", "1", "--reason", " "], "needs a reason"),
        (["prove", "--seq", "1"], "inclusion proof needs both"),
    ],
)
def test_bad_input_gets_one_clear_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    with Ledger.open(db) as ledger:
        ledger.append("note", {"first": True}, actor="a")
    code, _, err = run(capsys, "ledger", *argv, "--db", db)
    assert code == 1
    assert message in err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    with Ledger.open(db) as ledger:
        assert ledger.verify().size == 1


def test_a_missing_database_is_named_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    code, _, err = run(capsys, "ledger", "verify", "--db", str(missing))
    assert code == 1
    assert f"cannot open ledger database {missing}: no such file" in err
    assert "scimtrail ledger init" in err
    assert not missing.exists()


def test_a_database_of_another_schema_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    for cmd in (["verify"], ["init"]):
        code, _, err = run(capsys, "ledger", *cmd, "--db", str(other))
        assert code == 1
        assert "not a scimtrail ledger" in err
    con = sqlite3.connect(other)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [
        "customers"
    ]
    con.close()


def test_an_uninitialised_database_asks_for_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    code, _, err = run(capsys, "ledger", "show", "--db", str(empty))
    assert code == 1
    assert "run `scimtrail ledger init --db" in err


def test_a_wrong_key_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    code, _, err = run(capsys, "ledger", "checkpoint", "--db", db, "--key", str(bad))
    assert code == 1
    assert f"{bad} is not an unencrypted PEM private key" in err
    code, _, err = run(capsys, "ledger", "verify", "--db", db, "--pubkey", str(bad))
    assert code == 1
    assert "is not a PEM Ed25519 public key" in err


def test_a_checkpoint_signed_by_another_key_fails_verification_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "l.db")
    Ledger.init(db)
    run(capsys, "ledger", "append", "--db", db, "--kind", "note", "--actor", "a", "--json", "{}")
    assert (
        run(
            capsys,
            "ledger",
            "checkpoint",
            "--db",
            db,
            "--key",
            str(tmp_path / "a.pem"),
            "--out",
            str(tmp_path / "cp"),
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "ledger",
            "pubkey",
            "--key",
            str(tmp_path / "b.pem"),
            "--out",
            str(tmp_path / "b.pub"),
        )[0]
        == 0
    )
    code, _, err = run(
        capsys,
        "ledger",
        "verify",
        "--db",
        db,
        "--checkpoint",
        str(tmp_path / "cp"),
        "--pubkey",
        str(tmp_path / "b.pub"),
    )
    assert code == 3
    assert "checkpoint signature invalid" in err


def test_a_canary_secret_never_reaches_the_database_export_or_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "l.db"
    assert run(capsys, "ledger", "init", "--db", str(db))[0] == 0
    payload = (
        '{"request": {"method": "POST", "url": "https://idp.example/token?client_id=x&client_secret='
        + CANARY
        + '",'
        ' "headers": {"Authorization": "Bearer ' + CANARY + '", "Cookie": "sid=' + CANARY + '"}},'
        ' "response": {"body": {"access_token": "'
        + CANARY
        + '", "refresh_token": "'
        + CANARY
        + '",'
        ' "nested": [{"password": "' + CANARY + '"}], "note": "Bearer ' + CANARY + '"}}}'
    )
    outputs = []
    for argv in (
        [
            "ledger",
            "append",
            "--db",
            str(db),
            "--kind",
            "scim.exchange",
            "--actor",
            "bot",
            "--json",
            payload,
        ],
        ["ledger", "show", "--db", str(db), "--format", "json"],
        ["ledger", "show", "--db", str(db), "--format", "csv"],
        ["ledger", "export", "--db", str(db), "--out", str(tmp_path / "x.jsonl")],
        ["ledger", "verify", "--db", str(db)],
        # a failing command that echoes input must not echo the secret either
        [
            "ledger",
            "append",
            "--db",
            str(db),
            "--kind",
            "BAD KIND",
            "--actor",
            "a",
            "--json",
            payload,
        ],
    ):
        main(argv)
        out, err = capsys.readouterr()
        outputs.append(out + err)
    assert "[REDACTED]" in outputs[1]
    for text in outputs:
        assert CANARY not in text
    for path in tmp_path.iterdir():
        assert CANARY.encode() not in path.read_bytes(), f"canary found in {path.name}"
