"""A ledger writer process for crash and concurrency tests.

    python -m tests.evidence.writer DB NAME BATCHES BATCH_SIZE

Appends BATCHES batches of BATCH_SIZE entries (BATCH_SIZE 1 uses ``append``),
printing ``committed <seq>`` after each commit, flushed, so a parent can kill it
at a known point.
"""

from __future__ import annotations

import sys

from evidence.ledger import Ledger
from evidence.model import NewEntry


def main() -> None:
    db, name, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    body = {"userName": "x" * 200, "name": {"givenName": "محمد", "familyName": "Lee"}}
    with Ledger.open(db) as ledger:
        for b in range(batches):
            if size == 1:
                out = [ledger.append("scim.exchange", body | {"i": b}, actor=name)]
            else:
                out = ledger.append_many(
                    [
                        NewEntry(
                            "scim.exchange", body | {"b": b, "i": i}, name, run_id=f"{name}-{b}"
                        )
                        for i in range(size)
                    ]
                )
            print(f"committed {out[-1].seq}", flush=True)


if __name__ == "__main__":
    main()
