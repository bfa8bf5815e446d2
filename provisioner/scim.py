"""The SCIM transport: the one module that uses httpx.

Every HTTP attempt — SCIM reads and writes, OAuth2 token requests — passes through
:class:`RecordingTransport`, a wrapper around the real transport, which records it as
a ``scim.exchange`` entry (headers redacted) before the caller sees the response. No
code path can skip the evidence: the client is built with that transport and nothing
else sends requests.

Entries are buffered by :class:`Recorder` and written with ``append_many`` every
``flush_every`` exchanges or ``flush_ms`` milliseconds, and always before a
compensation, before ``run.finished`` and before any other entry of the run. A SIGKILL
therefore loses at most the buffered tail of exchanges; their effects stay in the
target, where the rerun finds them (it matches on ``externalId`` and looks up before
re-creating), so the rerun converges without duplicates. If the ledger stops taking
entries, the next request raises :class:`EvidenceUnavailable` and the run stops.

Retries (:meth:`ScimClient.request`): 429 honours Retry-After (seconds or HTTP date,
capped) and pauses the whole target; 5xx, 408, timeouts and connection resets are
retried with exponential backoff and full jitter; a POST is retried only after a
lookup shows it did not land; one credential refresh on 401. A circuit breaker stops
the target on repeated 401/403 or an error-rate spike.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from evidence.ledger import Ledger
from evidence.model import NewEntry
from provisioner.auth import Credential, OAuth2ClientCredentials
from provisioner.config import Target
from provisioner.errors import (
    CircuitOpen,
    EvidenceUnavailable,
    PinMismatch,
    ScimRefused,
    ScimUnavailable,
    SecretUnavailable,
)

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-correlation-id",
)
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_MAX_TEXT = 1 << 22  # 4 MiB of text per body; longer ones keep their SHA-256


# -- evidence --------------------------------------------------------------------------
class Recorder:
    """Buffers the run's entries and writes them in batches from a background thread."""

    def __init__(
        self,
        ledger: Ledger,
        actor: str,
        run_id: str,
        *,
        flush_every: int = 256,
        flush_ms: float = 200.0,
    ) -> None:
        self.ledger = ledger
        self.actor = actor
        self.run_id = run_id
        self.flush_every = max(1, flush_every)
        self.flush_s = max(flush_ms, 1.0) / 1000.0
        self._buf: list[NewEntry] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._error: str | None = None
        self._closed = False
        self.requests = 0
        self.retries = 0
        self._thread = threading.Thread(target=self._loop, name="scimtrail-evidence", daemon=True)
        self._thread.start()

    def check(self) -> None:
        if self._error is not None:
            raise EvidenceUnavailable(self._error)

    def exchange(self, payload: dict[str, Any]) -> None:
        """Buffer one HTTP attempt (the transport calls this for every request)."""
        with self._cond:
            self.requests += 1
            if payload.get("outcome") == "retry":
                self.retries += 1
        self.add("scim.exchange", payload)

    def add(self, kind: str, payload: Any) -> None:
        """Buffer an entry of the run; written with the next batch."""
        with self._cond:
            self._buf.append(NewEntry(kind, payload, self.actor, self.run_id))
            if len(self._buf) >= self.flush_every:
                self._cond.notify()

    def _drain(self) -> None:
        with self._write_lock:
            with self._cond:
                batch, self._buf = self._buf, []
            if not batch:
                return
            try:
                self.ledger.append_many(batch)
            except Exception as exc:  # the ledger's own errors and driver errors alike
                with self._cond:
                    self._buf[:0] = batch  # keep them for a final attempt
                    self._error = getattr(exc, "message", None) or type(exc).__name__
                raise

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._closed and len(self._buf) < self.flush_every:
                    self._cond.wait(self.flush_s)
                closed = self._closed
            try:
                self._drain()
            except Exception:
                if closed:
                    return
                time.sleep(self.flush_s)
                continue
            if closed:
                return

    def flush(self) -> None:
        """Write everything buffered now (raises EvidenceUnavailable on failure)."""
        try:
            self._drain()
        except Exception as exc:
            raise EvidenceUnavailable(self._error or type(exc).__name__) from None

    def append(self, kind: str, payload: Any, *, ref: int | None = None) -> int:
        """Flush the buffer, then append one entry of another kind synchronously."""
        self.flush()
        with self._write_lock:
            return self.ledger.append(
                kind, payload, actor=self.actor, run_id=self.run_id, ref=ref
            ).seq

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self.flush()


#: Words whose presence in a body makes us record it parsed (lower-case; plain substring
#: scans are ~20x cheaper than one case-insensitive regex over the body).
_MAYBE_SECRET = (
    b"passw",
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"api-key",
    b"private",
    b"passphrase",
    b"credential",
    b"bearer",
    b"basic ",
)


def _may_hold_secret(content: bytes) -> bool:
    low = content.lower()
    return any(word in low for word in _MAYBE_SECRET)


def _body(content: bytes, content_type: str) -> tuple[dict[str, Any], Any]:
    """How a body is recorded, and the body parsed for the caller (JSON, or None).

    Bodies are recorded verbatim (``body_text``: the bytes on the wire as UTF-8), which
    is both the most faithful evidence and cheap to canonicalise. A body that may carry
    a secret (a word such as token, secret or password appears in it) is recorded
    parsed (``body``) instead, so that the ledger's key-based redaction applies to it;
    if it is not JSON either, only its size and SHA-256 are kept. Form bodies (OAuth2
    token requests) are always recorded parsed.
    """
    if not content:
        return {}, None
    ct = content_type.lower()
    if "form-urlencoded" in ct:
        return {"body": dict(parse_qsl(content.decode("utf-8", "replace")))}, None
    parsed: Any = None
    if "json" in ct or content[:1] in (b"{", b"["):
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
    if _may_hold_secret(content):
        if parsed is not None:
            return {"body": parsed}, parsed
        # Not JSON, so key-based redaction cannot reach it (an HTML error page echoing
        # a header, say): keep only its size and hash, never its text.
        return {
            "body_withheld": "may contain a secret and is not JSON",
            "body_bytes": len(content),
            "body_sha256": hashlib.sha256(content).hexdigest(),
        }, None
    text = content.decode("utf-8", "replace")
    out: dict[str, Any] = {"body_text": text[:_MAX_TEXT]}
    if len(text) > _MAX_TEXT:
        out["body_bytes"] = len(content)
        out["body_sha256"] = hashlib.sha256(content).hexdigest()
    return out, parsed


def _headers(h: httpx.Headers) -> dict[str, str]:
    return {k: ("[REDACTED]" if k.lower() in _SECRET_HEADERS else v) for k, v in h.multi_items()}


# -- the outcome of one attempt, decided in one place -----------------------------------
def decide(ctx: dict[str, Any], status: int | None, error: bool, bad_body: bool = False) -> str:
    """ "ok", "retry" (the engine tries again or resolves) or "failed".

    ``bad_body``: a 2xx whose body should be a JSON object and is not (truncated, HTML):
    never taken as an (empty) answer, retried like a 5xx.
    """
    # attempts that count against max_attempts (every outcome but 429), this one included
    tries = ctx.get("tries", ctx.get("attempt", 1))
    more = tries < ctx.get("max_attempts", 1)
    if error:
        return "retry" if more else "failed"
    assert status is not None
    if bad_body and 200 <= status < 300:
        return "retry" if more else "failed"
    if 200 <= status < 300 or status in ctx.get("ok_statuses", ()):
        return "ok"
    if status == 429:  # waited out within the throttle budget, not counted as a try
        return "retry" if ctx.get("throttle_left", more) else "failed"
    if status == 408 or status >= 500:
        return "retry" if more else "failed"
    if status == 401:
        return "retry" if ctx.get("can_refresh") else "failed"
    if status in ctx.get("resolve_statuses", ()):  # 409 → adopt, 412 → re-read
        return "retry"
    return "failed"


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport; records every attempt, then hands the response on."""

    def __init__(
        self, inner: httpx.BaseTransport, recorder: Recorder, pin_sha256: str | None = None
    ) -> None:
        self.inner = inner
        self.recorder = recorder
        self.pin = pin_sha256

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.recorder.check()
        ctx: dict[str, Any] = request.extensions.get("scimtrail") or {}
        req_rec: dict[str, Any] = {
            "method": request.method,
            "url": str(request.url),
            "headers": _headers(request.headers),
        }
        req_rec |= _body(request.content, request.headers.get("content-type", ""))[0]
        t0 = time.perf_counter()
        try:
            resp = self.inner.handle_request(request)
            content = resp.read()
        except httpx.TransportError as exc:
            latency = (time.perf_counter() - t0) * 1000
            ctx["decision"] = decide(ctx, None, True)
            self._record(
                ctx, req_rec, {"error": f"{type(exc).__name__}: {exc}"[:500]}, latency, None
            )
            raise
        latency = (time.perf_counter() - t0) * 1000
        if self.pin:
            _check_pin(resp, self.pin, str(request.url.host))
        resp_rec: dict[str, Any] = {"status": resp.status_code, "headers": _headers(resp.headers)}
        recorded, parsed = _body(content, resp.headers.get("content-type", ""))
        resp_rec |= recorded
        ctx["parsed"] = parsed
        bad = bool(ctx.get("expect_json")) and not isinstance(parsed, dict)
        ctx["decision"] = decide(ctx, resp.status_code, False, bad)
        rid = next((resp.headers[h] for h in _REQUEST_ID_HEADERS if h in resp.headers), None)
        self._record(ctx, req_rec, resp_rec, latency, rid)
        return httpx.Response(
            resp.status_code,
            headers=resp.headers,
            stream=httpx.ByteStream(content),
            extensions=resp.extensions,
            request=request,
        )

    def _record(
        self,
        ctx: Mapping[str, Any],
        req: dict[str, Any],
        resp: dict[str, Any],
        latency: float,
        rid: str | None,
    ) -> None:
        payload: dict[str, Any] = {
            "operation": ctx.get("operation", "read"),
            "resource_type": ctx.get("resource_type"),
            "attempt": ctx.get("attempt", 1),
            "outcome": ctx.get("decision", "failed"),
            "request": req,
            "response": resp,
            # integers keep the entry on the ledger's fast canonical path (no floats)
            "latency_ms": round(latency),
            "latency_us": round(latency * 1000),
            "request_id": rid,
        }
        for k in (
            "external_id",
            "employee_id",
            "scim_id",
            "plan_hash",
            "hr",
            "members",
            "group",
            "compensation",
        ):
            v = ctx.get(k)
            if v is not None:
                payload[k] = v
        self.recorder.exchange(payload)

    def close(self) -> None:
        self.inner.close()


def _norm_pin(p: str) -> str:
    return p.replace(":", "").strip().lower()


def _check_pin(resp: httpx.Response, pin: str, host: str) -> None:
    stream = resp.extensions.get("network_stream")
    sslobj = stream.get_extra_info("ssl_object") if stream is not None else None
    if sslobj is None:
        return
    der = sslobj.getpeercert(binary_form=True)
    got = hashlib.sha256(der).hexdigest()
    if got != _norm_pin(pin):
        raise PinMismatch(host, got)


def probe_pin(url: str, pin: str, ca_bundle: str | None, timeout: float = 10.0) -> None:
    """Before any credential is sent: connect, and compare the leaf certificate's SHA-256."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return
    ctx = ssl.create_default_context(cafile=ca_bundle)
    try:
        with (
            socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as s,
            ctx.wrap_socket(s, server_hostname=parts.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True) or b""
    except (OSError, ssl.SSLError) as exc:
        raise ScimUnavailable(parts.hostname, f"TLS connection failed: {exc}") from exc
    got = hashlib.sha256(der).hexdigest()
    if got != _norm_pin(pin):
        raise PinMismatch(parts.hostname, got)


# -- the client ----------------------------------------------------------------------
class Clock:
    """Time for retries and pauses; tests pass a fake one."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(slots=True)
class Result:
    status: int
    body: Any
    etag: str | None = None
    landed_by_lookup: bool = False

    @property
    def resource(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    def detail(self) -> str:
        b = self.resource
        d = b.get("detail") or b.get("message") or b.get("scimType")
        return str(d)[:300] if d else f"HTTP {self.status}"


@dataclass(slots=True)
class Capabilities:
    patch: bool = True
    etag: bool = False
    bulk: bool = False
    discovered: bool = False


@dataclass(slots=True)
class Breaker:
    auth_limit: int
    rate_limit: float
    window: int
    auth_failures: int = 0
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=50))
    reason: str | None = None

    def note(self, ok: bool, status: int | None) -> None:
        if status in (401, 403):
            self.auth_failures += 1
            if self.auth_failures >= self.auth_limit:
                self.reason = f"{self.auth_failures} consecutive 401/403 answers"
        elif status is not None and status < 500:
            self.auth_failures = 0
        if self.recent.maxlen != self.window:
            self.recent = deque(self.recent, maxlen=self.window)
        self.recent.append(ok)
        if len(self.recent) >= max(10, self.window // 2):
            rate = self.recent.count(False) / len(self.recent)
            if rate > self.rate_limit:
                self.reason = f"error rate {rate:.0%} over the last {len(self.recent)} requests"


def parse_retry_after(value: str | None, now_wall: float | None = None) -> float | None:
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    wall = time.time() if now_wall is None else now_wall
    return max(when.timestamp() - wall, 0.0)


def escape_filter(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 §3.4.2.2, JSON string rules)."""
    return json.dumps(value, ensure_ascii=False)


class ScimClient:
    """SCIM calls against one target, with retries, pauses, the breaker and the evidence."""

    def __init__(
        self,
        target: Target,
        credential: Credential,
        recorder: Recorder,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        plan_hash: str | None = None,
    ) -> None:
        self.target = target
        self.credential = credential
        self.recorder = recorder
        self.clock = clock or Clock()
        self.plan_hash = plan_hash
        if transport is None:
            if target.pin_sha256:
                probe_pin(target.url, target.pin_sha256, target.ca_bundle, target.timeout_s)
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=target.ca_bundle)
            transport = httpx.HTTPTransport(verify=verify, retries=0)
        self._http = httpx.Client(
            base_url=target.url.rstrip("/") + "/",
            transport=RecordingTransport(transport, recorder, target.pin_sha256),
            timeout=target.timeout_s,
            headers={"Accept": "application/scim+json, application/json"},
            follow_redirects=False,
        )
        if isinstance(credential, OAuth2ClientCredentials):
            credential.poster = self._post_token
        self.caps = Capabilities()
        self.breaker = Breaker(
            target.breaker_auth_failures, target.breaker_error_rate, target.breaker_window
        )
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self._next_slot = 0.0
        self.throttled = 0

    def close(self) -> None:
        self._http.close()

    # -- pacing ------------------------------------------------------------------
    def _wait_turn(self) -> None:
        """Wait out a target-wide pause (429), then take a rate-limit slot."""
        while True:
            with self._lock:
                now = self.clock.now()
                pause = self._pause_until - now
                wait = 0.0
                if pause <= 0 and self.target.rate_limit > 0:
                    slot = max(self._next_slot, now)
                    self._next_slot = slot + 1.0 / self.target.rate_limit
                    wait = slot - now
            if pause > 0:
                self.clock.sleep(pause)
                continue
            self.clock.sleep(wait)
            return

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self.throttled += 1
            self._pause_until = max(self._pause_until, self.clock.now() + seconds)

    def _backoff(self, attempt: int) -> float:
        cap = min(self.target.backoff_max_s, self.target.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)  # full jitter

    # -- one logical request ------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        ctx: Mapping[str, Any],
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        ok_statuses: Sequence[int] = (),
        resolve_statuses: Sequence[int] = (),
        landed: Callable[[], Result | None] | None = None,
        expect_json: bool | None = None,
    ) -> Result:
        """Send with retries; 2xx/ok/resolve statuses return, anything else raises."""
        refreshed = False
        max_attempts = max(1, self.target.max_attempts)
        tries = 0  # attempts that failed other than by a 429
        throttled = 0.0  # seconds this request has waited out 429s
        attempt = 0
        while True:
            attempt += 1
            if self.breaker.reason:
                raise CircuitOpen(self.target.name, self.breaker.reason)
            self._wait_turn()
            try:
                auth = self.credential.header()
            except SecretUnavailable:
                raise
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = auth
            x: dict[str, Any] = dict(ctx) | {
                "attempt": attempt,
                "max_attempts": max_attempts,
                "tries": tries + 1,
                "throttle_left": throttled < self.target.throttle_budget_s,
                "ok_statuses": tuple(ok_statuses),
                "resolve_statuses": tuple(resolve_statuses),
                "can_refresh": not refreshed,
                "expect_json": method == "GET" if expect_json is None else expect_json,
            }
            if self.plan_hash and "plan_hash" not in x:
                x["plan_hash"] = self.plan_hash
            try:
                resp = self._http.request(
                    method,
                    path.lstrip("/"),
                    json=body,
                    params=params,
                    headers=hdrs,
                    extensions={"scimtrail": x},
                )
            except httpx.TransportError as exc:
                self.breaker.note(False, None)
                if x.get("decision") != "retry":
                    raise ScimUnavailable(
                        self.target.name, f"{type(exc).__name__} after {attempt} attempt(s)"
                    ) from None
                if not idempotent and landed is not None:
                    found = landed()
                    if found is not None:
                        found.landed_by_lookup = True
                        return found
                tries += 1
                self.clock.sleep(self._backoff(tries))
                continue
            status = resp.status_code
            decision = x.get("decision")
            body_ = x.get("parsed")
            result = Result(
                status, body_ if body_ is not None else _parse(resp), resp.headers.get("etag")
            )
            self.breaker.note(decision == "ok" or status in resolve_statuses, status)
            if decision == "ok" or (decision == "retry" and status in resolve_statuses):
                return result
            if decision != "retry":
                if status == 429:
                    raise ScimUnavailable(
                        self.target.name,
                        f"still throttled (429) after waiting out {throttled:.0f} s of "
                        f"Retry-After on {method} /{path.lstrip('/')} (throttle_budget_s)",
                    )
                detail = result.detail() if status >= 300 else "the body is not a JSON object"
                raise ScimRefused(self.target.name, method, "/" + path.lstrip("/"), status, detail)
            if status == 401:
                tries += 1
                refreshed = True
                if not self.credential.refresh(auth):
                    raise ScimRefused(
                        self.target.name, method, "/" + path.lstrip("/"), status, result.detail()
                    )
                continue
            if status == 429:
                delay = parse_retry_after(resp.headers.get("retry-after"))
                delay = self._backoff(attempt) if delay is None else delay
                # at least 1 s, so that "Retry-After: 0" forever still ends within the budget
                wait = max(1.0, min(delay, self.target.retry_after_max_s))
                throttled += wait
                self._pause(wait)
            else:
                if not idempotent and landed is not None:
                    found = landed()
                    if found is not None:
                        found.landed_by_lookup = True
                        return found
                tries += 1
                self.clock.sleep(self._backoff(tries))

    def _post_token(
        self, url: str, form: Mapping[str, str], basic: tuple[str, str] | None
    ) -> Mapping[str, Any]:
        try:
            resp = self._http.post(
                url,
                data=dict(form),
                auth=basic if basic is not None else httpx.USE_CLIENT_DEFAULT,
                extensions={"scimtrail": {"operation": "token", "attempt": 1, "max_attempts": 1}},
            )
        except httpx.TransportError as exc:
            raise SecretUnavailable("oauth2", url, type(exc).__name__) from None
        if resp.status_code != 200:
            raise SecretUnavailable("oauth2", url, f"token endpoint answered {resp.status_code}")
        data = _parse(resp)
        if not isinstance(data, dict):
            raise SecretUnavailable("oauth2", url, "the token response is not a JSON object")
        return data

    # -- SCIM operations -----------------------------------------------------------
    def discover(self) -> Capabilities:
        try:
            r = self.request(
                "GET",
                "ServiceProviderConfig",
                {"operation": "read"},
                ok_statuses=range(400, 500),
                expect_json=False,
            )
        except ScimRefused:
            return self.caps
        spc = r.resource if r.status < 300 else {}

        def flag(name: str, default: bool) -> bool:
            v = spc.get(name)
            if isinstance(v, dict) and "supported" in v:
                s = v["supported"]
                return s if isinstance(s, bool) else str(s).lower() == "true"
            return default

        self.caps = Capabilities(
            flag("patch", True), flag("etag", False), flag("bulk", False), bool(spc)
        )
        return self.caps

    def iter_resources(
        self,
        resource: str,
        params: Mapping[str, Any] | None = None,
        ctx: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every resource of a type: counts what came back, never trusts itemsPerPage."""
        seen: set[str] = set()
        start = 1
        for _ in range(1_000_000):
            p = dict(params or {}) | {"startIndex": start, "count": self.target.page_size}
            r = self.request(
                "GET", resource, dict(ctx or {"operation": "read"}), params=p, ok_statuses=(404,)
            )
            if r.status == 404:
                return
            body = r.resource
            items = body.get("Resources")
            if items is None:
                items = body.get("resources") or []
            new = 0
            for item in items:
                if not isinstance(item, dict):
                    continue
                rid = str(item.get("id") or "")
                if rid and rid not in seen:
                    seen.add(rid)
                    new += 1
                    yield item
            total = _int(body.get("totalResults"))
            if not items or new == 0:
                return
            if total is not None and len(seen) >= total:
                return
            start += len(items)

    def count(self, resource: str, ctx: Mapping[str, Any]) -> int | None:
        """totalResults of a one-item page (the incremental run's probe)."""
        r = self.request(
            "GET", resource, dict(ctx), params={"startIndex": 1, "count": 1}, ok_statuses=(404,)
        )
        return _int(r.resource.get("totalResults")) if r.status < 300 else None

    def find(
        self, resource: str, attr: str, value: str, ctx: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        flt = f"{attr} eq {escape_filter(value)}"
        r = self.request(
            "GET",
            resource,
            dict(ctx) | {"operation": "lookup"},
            params={"filter": flt},
            ok_statuses=(404,),
        )
        if r.status == 404:
            return []
        body = r.resource
        items = body.get("Resources")
        if items is None:
            items = body.get("resources") or []
        return [i for i in items if isinstance(i, dict)]

    def get(self, resource: str, rid: str, ctx: Mapping[str, Any]) -> Result | None:
        r = self.request(
            "GET", f"{resource}/{rid}", dict(ctx) | {"operation": "read"}, ok_statuses=(404,)
        )
        return None if r.status == 404 else r

    def create(
        self,
        resource: str,
        body: Mapping[str, Any],
        ctx: Mapping[str, Any],
        lookup: Callable[[], Result | None],
    ) -> Result:
        """POST; returns 201, or 409 for the caller to resolve. Re-POSTs only after a lookup."""
        return self.request(
            "POST",
            resource,
            ctx,
            body=body,
            idempotent=False,
            resolve_statuses=(409,),
            landed=lookup,
        )

    def patch(
        self,
        resource: str,
        rid: str,
        ops: Sequence[Mapping[str, Any]],
        ctx: Mapping[str, Any],
        etag: str | None = None,
    ) -> Result:
        headers = {"If-Match": etag} if etag and self.caps.etag else None
        return self.request(
            "PATCH",
            f"{resource}/{rid}",
            ctx,
            body={"schemas": [PATCH_SCHEMA], "Operations": list(ops)},
            headers=headers,
            resolve_statuses=(412,),
        )

    def put(
        self,
        resource: str,
        rid: str,
        body: Mapping[str, Any],
        ctx: Mapping[str, Any],
        etag: str | None = None,
    ) -> Result:
        headers = {"If-Match": etag} if etag and self.caps.etag else None
        return self.request(
            "PUT", f"{resource}/{rid}", ctx, body=body, headers=headers, resolve_statuses=(412,)
        )

    def delete(self, resource: str, rid: str, ctx: Mapping[str, Any]) -> Result:
        return self.request("DELETE", f"{resource}/{rid}", ctx, ok_statuses=(404,))


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _parse(resp: httpx.Response) -> Any:
    """Lenient: 204 and empty bodies are None; JSON under any content type; else text."""
    content = resp.content
    if not content or not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")[:2000]


def send_notification(url: str, doc: Mapping[str, Any], ca_bundle: str | None = None) -> int:
    """POST a JSON notification (HR / security operations webhook); returns the status."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle)
    with httpx.Client(timeout=15, verify=verify) as c:
        return c.post(url, json=dict(doc)).status_code


def wsgi_transport(app: Any) -> httpx.BaseTransport:
    """An in-process transport for a WSGI SCIM server (tests, demo, check-mapping)."""
    return httpx.WSGITransport(app=app)


TransportError = httpx.TransportError
