"""`make demo`: the main job end to end on embedded defaults.

For now it shows the ledger working: create, append, verify, checkpoint, and a
tampered copy detected. Later stages (provisioning against a loopback SCIM server,
evidence collection, the audit pack) plug in here as they land.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from pathlib import Path

from evidence import checkpoint as cpmod
from evidence.errors import IntegrityError
from evidence.ledger import Ledger
from evidence.model import NewEntry


def _say(step: str) -> None:
    print(f"==> {step}", flush=True)


def ledger_demo(out: Path) -> int:
    db = out / "scimtrail.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    key_path = out / "keys" / "ledger-ed25519.pem"
    _say(f"create ledger {db}")
    Ledger.init(str(db))
    with Ledger.open(str(db)) as ledger:
        _say("append 1,000 SCIM exchanges in batches, and a manual access-review sign-off")
        for batch in range(10):
            ledger.append_many(
                [
                    NewEntry(
                        "scim.exchange",
                        {
                            "request": {
                                "method": "POST",
                                "url": "http://127.0.0.1/scim/v2/Users",
                                "headers": {"Authorization": "Bearer demo-secret-token"},
                                "body": {"userName": f"user{batch * 100 + i}@example.com"},
                            },
                            "response": {"status": 201},
                        },
                        "demo",
                        run_id=f"demo-run-{batch}",
                    )
                    for i in range(100)
                ]
            )
        ledger.append("note", {"review": "Q3 access review", "signed_off": True}, actor="ciso")
        key = cpmod.load_or_create_key(key_path)
        cp = ledger.checkpoint(key, actor="demo")
        (out / "checkpoint.txt").write_text(cp.note, encoding="utf-8")
        _say(f"signed checkpoint: size {cp.size}, root {cp.root.hex()[:16]}…")
        result = ledger.verify([cp], key.public_key())
        _say(f"verify: OK: {result.size} entries, head {result.head_hex}")
        stored = ledger.get(1).payload["request"]["headers"]["Authorization"]
        _say(f"the bearer token was stored as {stored!r}")
    copy = out / "tampered.db"
    shutil.copy(db, copy)
    _say("tamper with a copy: drop the append-only trigger and rewrite entry 42's actor")
    con = sqlite3.connect(copy)
    con.execute("DROP TRIGGER ledger_entries_no_update")
    con.execute("UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 42")
    con.commit()
    con.close()
    try:
        with Ledger.open(str(copy)) as tampered:
            tampered.verify([cp], key.public_key())
    except IntegrityError as exc:
        _say(f"verify of the tampered copy: {exc.message}")
    else:
        print("the tampered copy verified: this is a bug", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return ledger_demo(args.out)


if __name__ == "__main__":
    sys.exit(main())
