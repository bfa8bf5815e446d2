"""A MockTransport in front of the real in-process scim2-server that injects faults.

Each rule matches a method and a path fragment and answers instead of the server
(``status``, ``headers``, ``body``), raises a transport error (``raise_``), or lets the
server act and then loses the answer (``after``). Rules fire ``times`` times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Rule:
    method: str
    path: str
    times: int = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    raise_: type[Exception] | None = None
    after: bool = False  # let the server act, then fail the answer
    hits: int = 0


class Faulty:
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, int | str]] = []

    def add(self, **kw: Any) -> Rule:
        r = Rule(**kw)
        self.rules.append(r)
        return r

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path + ("?" + request.url.query.decode() if request.url.query else "")
        for r in self.rules:
            if r.hits < r.times and r.method == request.method and r.path in path:
                r.hits += 1
                if r.after:
                    self.inner.handle_request(request).read()
                if r.raise_ is not None:
                    self.log.append((request.method, path, r.raise_.__name__))
                    raise r.raise_("injected", request=request)  # type: ignore[call-arg]
                self.log.append((request.method, path, r.status or 0))
                return httpx.Response(r.status or 500, headers=r.headers, content=r.body or b"")
        resp = self.inner.handle_request(request)
        resp.read()
        self.log.append((request.method, path, resp.status_code))
        return resp

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class FakeClock:
    """Records sleeps instead of sleeping; time advances by what was slept."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.t += seconds
