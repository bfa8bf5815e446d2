"""Credentials: env, file, command, OAuth2 client credentials; canaries never leak."""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.utils import load_default_provider

from provisioner.auth import SecretRef
from provisioner.config import load_config, resolve_target
from provisioner.errors import ConfigError, SecretUnavailable
from tests.provisioner.conftest import person, target

ACCESS = "canary-access-token-91c2e7"
CLIENT_SECRET = "canary-client-secret-55ab01"


def test_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOK", "from-env")
    assert SecretRef("env", "TOK").load().reveal() == "from-env"
    f = tmp_path / "tok"
    f.write_text("from-file\n")
    assert SecretRef("file", str(f)).load().reveal() == "from-file"
    cmd = f"{sys.executable} -c \"print('from-command')\""
    assert SecretRef("command", cmd).load().reveal() == "from-command"
    assert "from-env" not in repr(SecretRef("env", "TOK").load())


def test_a_failing_secret_command_does_not_show_its_output() -> None:
    cmd = f"{sys.executable} -c \"import sys; print('{CLIENT_SECRET}'); sys.exit(3)\""
    with pytest.raises(SecretUnavailable) as err:
        SecretRef("command", cmd).load()
    assert CLIENT_SECRET not in err.value.diagnostics()
    assert "status 3" in err.value.diagnostics()


def test_plain_http_is_refused_off_loopback_unless_insecure() -> None:
    with pytest.raises(ConfigError):
        resolve_target("http://scim.example.com/v2", {})
    assert resolve_target("http://scim.example.com/v2", {}, overrides={"insecure_http": True})
    assert resolve_target("http://127.0.0.1:8400/v2", {})
    assert resolve_target("https://scim.example.com/v2", {})


def test_named_targets_come_from_the_example_config(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "examples" / "scimtrail.toml")
    t = resolve_target("local", cfg)
    assert t.url.startswith("http://127.0.0.1:8400")
    assert resolve_target("production", cfg).require_approval


def test_oauth2_client_credentials_with_refresh_leave_no_secret_behind(
    run_apply, tmp_path: Path
) -> None:
    storage = InMemoryStorage()
    tokens = [ACCESS + "-1", ACCESS + "-2"]
    app = BearerTokenApplication(storage, load_default_provider(), bearer_tokens=[tokens[0]])
    scim = httpx.WSGITransport(app=app)
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            assert request.headers["authorization"].startswith("Basic ")
            tok = tokens[len(issued) % 2]
            issued.append(tok)
            return httpx.Response(
                200, json={"access_token": tok, "expires_in": 3600, "token_type": "Bearer"}
            )
        if len(issued) == 1 and request.method == "POST" and "/Groups" in request.url.path:
            app.bearer_tokens = {tokens[1]}  # the server rotates: one 401, one refresh
        return scim.handle_request(request)

    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET)
    t = target(
        auth={
            "method": "oauth2",
            "token_url": "http://idp.test/oauth/token",
            "client_id": "scimtrail",
            "client_secret": {"file": str(secret_file)},
            "scope": "scim",
        }
    )
    rows = [person("E1", "Sarah", "Mitchell", "Engineering", "Engineer")]
    r = run_apply(rows, transport=httpx.MockTransport(handler), t=t)
    assert r.ok, r.failures
    assert len(issued) == 2, "one token, one refresh after the 401"
    for f in tmp_path.glob("ledger.db*"):
        data = f.read_bytes()
        for canary in (CLIENT_SECRET, tokens[0], tokens[1]):
            assert canary.encode() not in data, (f, canary)
    from evidence.ledger import Ledger

    with Ledger.open(str(tmp_path / "ledger.db")) as ledger:
        started = next(ledger.entries(kind="run.started")).payload
        token_calls = [
            e.payload
            for e in ledger.entries(kind="scim.exchange")
            if e.payload["operation"] == "token"
        ]
    assert started["auth"]["method"] == "oauth2"
    assert len(token_calls) == 2, "token requests are recorded too (redacted)"
    assert json.dumps(token_calls).count("[REDACTED]") >= 4


def test_concurrent_401s_with_the_same_token_fetch_one_new_token() -> None:
    """Requests refused together all carried the old token: one fetch serves them all."""
    from provisioner.auth import OAuth2ClientCredentials

    fetched: list[str] = []

    def poster(url: str, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, object]:
        fetched.append(f"{ACCESS}-{len(fetched) + 1}")
        return {"access_token": fetched[-1], "expires_in": 3600}

    cred = OAuth2ClientCredentials(
        "http://idp.test/oauth/token", "scimtrail", SecretRef("literal", CLIENT_SECRET)
    )
    cred.poster = poster
    old = cred.header()
    start = threading.Barrier(8)

    def refused() -> str:
        start.wait()
        assert cred.refresh(old)
        return cred.header()

    with ThreadPoolExecutor(8) as pool:
        after = list(pool.map(lambda _: refused(), range(8)))
    assert fetched == [f"{ACCESS}-1", f"{ACCESS}-2"], "one token, then exactly one refresh"
    assert set(after) == {f"Bearer {ACCESS}-2"}
    assert cred.refresh(after[0])
    assert len(fetched) == 3, "a 401 on the new token fetches again"
