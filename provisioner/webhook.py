"""The HR webhook receiver (`scimtrail provision serve`).

``POST /events`` with a JSON body ``{"event_id", "type": "hire"|"change"|"terminate",
"employee_id", "record": {HR columns…}}`` and two headers:

* ``X-Scimtrail-Timestamp``: Unix seconds when HR signed it;
* ``X-Scimtrail-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body``
  with the shared secret.

An event is refused (401) when unsigned, wrongly signed or older than the tolerance, and
(409) when its ``event_id`` was accepted before (a replay); refusals are recorded too.
An accepted event is appended to the ledger as ``hr.event`` — durably, before the 202
answer — and then applied for that one person through the same plan/apply path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evidence.ledger import Ledger
from provisioner import sources
from provisioner.apply import RunContext, RunResult, apply_run
from provisioner.auth import Secret
from provisioner.config import Target
from provisioner.errors import ConfigError, ProvisionError
from provisioner.mapping import MappingFile

EVENT_TYPES = ("hire", "change", "terminate")
MAX_BODY = 1 << 20


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(slots=True)
class Verdict:
    status: int
    reason: str
    event: dict[str, Any] | None = None


class Receiver:
    """Checks, records and queues events; independent of the HTTP server (testable)."""

    def __init__(
        self,
        ledger: Ledger,
        secret: Secret,
        apply_event: Callable[[dict[str, Any]], object],
        *,
        actor: str = "hr-webhook",
        tolerance_s: float = 300.0,
    ) -> None:
        self.ledger = ledger
        self.secret = secret
        self.apply_event = apply_event
        self.actor = actor
        self.tolerance_s = tolerance_s
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        for e in ledger.entries(kind="hr.event"):
            p = e.payload or {}
            if p.get("accepted", True) and p.get("event_id"):
                self.seen.add(str(p["event_id"]))
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="scimtrail-hr-events", daemon=True)
        self.worker.start()

    def _record(self, payload: dict[str, Any]) -> int:
        return self.ledger.append("hr.event", payload, actor=self.actor).seq

    def receive(self, body: bytes, timestamp: str | None, signature: str | None) -> Verdict:
        received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            doc = json.loads(body) if body else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        base = {
            "event_id": str(doc.get("event_id") or ""),
            "type": doc.get("type"),
            "employee_id": doc.get("employee_id"),
            "received_at": received,
        }
        ok_sig = bool(timestamp and signature) and hmac.compare_digest(
            sign(self.secret.reveal(), timestamp or "", body), signature or ""
        )
        if not ok_sig:
            self._record(
                base
                | {
                    "signature_ok": False,
                    "accepted": False,
                    "reason": "missing or invalid signature",
                }
            )
            return Verdict(401, "missing or invalid signature")
        try:
            age = abs(time.time() - float(timestamp or "0"))
        except ValueError:
            age = float("inf")
        if age > self.tolerance_s:
            self._record(
                base
                | {
                    "signature_ok": True,
                    "accepted": False,
                    "reason": f"timestamp outside ±{self.tolerance_s:g}s",
                }
            )
            return Verdict(401, "stale timestamp")
        problems = []
        if not base["event_id"]:
            problems.append("event_id is missing")
        if doc.get("type") not in EVENT_TYPES:
            problems.append(f"type must be one of {', '.join(EVENT_TYPES)}")
        if not isinstance(doc.get("record"), dict) or not doc.get("employee_id"):
            problems.append("employee_id and record are required")
        if problems:
            self._record(
                base | {"signature_ok": True, "accepted": False, "reason": "; ".join(problems)}
            )
            return Verdict(400, "; ".join(problems))
        with self.lock:
            if base["event_id"] in self.seen:
                self._record(
                    base
                    | {
                        "signature_ok": True,
                        "accepted": False,
                        "reason": "replay of an accepted event",
                    }
                )
                return Verdict(409, "replay")
            self.seen.add(str(base["event_id"]))
            event = base | {"record": doc["record"], "signature_ok": True, "accepted": True}
            event["seq"] = self._record(event)  # durable before we answer
        self.queue.put(event)
        return Verdict(202, "accepted", event)

    def _work(self) -> None:
        while True:
            event = self.queue.get()
            if event is None:
                return
            try:
                self.apply_event(event)
            except ProvisionError:
                pass  # the run recorded its failure (run.finished ok=false)
            finally:
                self.queue.task_done()

    def close(self) -> None:
        self.queue.put(None)
        self.worker.join(timeout=30)


def apply_event(
    event: dict[str, Any],
    t: Target,
    m: MappingFile,
    ledger: Ledger,
    *,
    transport: Any = None,
    today: date | None = None,
) -> RunResult:
    """Apply one accepted HR event for its person, through the normal plan/apply path."""
    record = {str(k): "" if v is None else str(v) for k, v in dict(event["record"]).items()}
    record.setdefault(m.source.key, str(event["employee_id"]))
    if event["type"] == "terminate" and record.get(m.source.status) not in m.lifecycle.terminated:
        record[m.source.status] = sorted(m.lifecycle.terminated)[0]
    src = sources.from_records([record], m, f"hr-event:{event['event_id']}")
    rc = RunContext(
        t,
        m,
        ledger,
        f"hr-webhook:{event['event_id']}",
        transport=transport,
        today=today,
        mode="serve",
    )
    src.require_valid(False)
    return apply_run(rc, src, only=[record[m.source.key]])


def make_server(receiver: Receiver, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "scimtrail-webhook"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/events":
                self._answer(404, {"error": "POST events to /events"})
                return
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self._answer(413, {"error": "body too large"})
                return
            body = self.rfile.read(n)
            v = receiver.receive(
                body,
                self.headers.get("X-Scimtrail-Timestamp"),
                self.headers.get("X-Scimtrail-Signature"),
            )
            doc: dict[str, Any] = {"status": v.reason}
            if v.event is not None:
                doc |= {"event_id": v.event["event_id"], "seq": v.event["seq"]}
            self._answer(v.status, doc)

        def do_GET(self) -> None:
            self._answer(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "choose another --port, or stop what is listening there",
        ) from None
