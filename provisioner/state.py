"""Incremental sync: what the last successful run left in the target, per person.

After a successful apply of a whole HR source, the run records a ``sync.state`` entry:
a short fingerprint per person of what the mapping made of their HR record (lifecycle
state, attributes, groups), with the number of accounts the target then held. The next
run compares fingerprints and reads only the people whose fingerprint changed (or who
left HR), one lookup each, plus the groups: requests ≈ changes + the reads they need.

A full read happens instead when there is no state for this target and mapping, when
``--full`` is given, or when a one-request probe finds the target's account count
different from the recorded one (a reset or out-of-band change). Drift inside accounts
that HR did not change is what ``reconcile`` (or a periodic ``--full``) is for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import orjson

from evidence.ledger import Ledger
from provisioner.mapping import MappingFile

KIND = "sync.state"


def fingerprint(m: MappingFile, rec: Mapping[str, str], today: date) -> str:
    st = m.state(rec, today)
    doc = [st.category, st.effective_date, m.attributes(rec), sorted(m.groups_for(rec))]
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def fingerprints(
    m: MappingFile, records: Iterable[Mapping[str, str]], today: date
) -> dict[str, str]:
    key = m.source.key
    return {r[key]: fingerprint(m, r, today) for r in records}


def last_state(ledger: Ledger, target_url: str, mapping_sha256: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    for e in ledger.entries(kind=KIND):
        p = e.payload
        if p and p.get("target") == target_url and p.get("mapping_sha256") == mapping_sha256:
            found = p
    return found


def changed(prev: Mapping[str, str], cur: Mapping[str, str]) -> frozenset[str]:
    """People whose fingerprint changed, who are new, or who left HR."""
    out = {e for e, fp in cur.items() if prev.get(e) != fp}
    out |= {e for e in prev if e not in cur}
    return frozenset(out)
