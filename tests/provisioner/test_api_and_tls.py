"""The library entry point the demo uses, and TLS certificate pinning."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evidence.ledger import Ledger
from provisioner.api import provision
from provisioner.errors import PinMismatch
from provisioner.scim import probe_pin
from tests.provisioner.conftest import EXAMPLE_HR, TODAY, Server


def test_provision_from_python_like_the_demo(server: Server, tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    Ledger.init(db)
    dry = provision(
        EXAMPLE_HR,
        target_url="http://127.0.0.1:9/v2",
        db=db,
        token="demo-token",
        transport=server.transport(),
        today=TODAY,
        dry_run=True,
    )
    assert dry.ok
    assert server.all("Users") == []
    result = provision(
        EXAMPLE_HR,
        target_url="http://127.0.0.1:9/v2",
        db=db,
        token="demo-token",
        transport=server.transport(),
        today=TODAY,
        actor="demo",
    )
    assert result.ok, result.failures
    assert result.counts["create"] == 27
    assert b"demo-token" not in Path(db).read_bytes()


def _tls_server(tmp_path: Path) -> tuple[int, bytes, Path, threading.Thread, socket.socket]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "cert.pem"
    key_pem = tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)

    def serve() -> None:
        for _ in range(2):
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    der = cert.public_bytes(serialization.Encoding.DER)
    return sock.getsockname()[1], der, cert_pem, t, sock


def test_certificate_pinning_refuses_another_certificate(tmp_path: Path) -> None:
    port, der, ca, thread, sock = _tls_server(tmp_path)
    url = f"https://127.0.0.1:{port}/scim/v2"
    try:
        good = hashlib.sha256(der).hexdigest()
        probe_pin(url, ":".join(good[i : i + 2] for i in range(0, 64, 2)).upper(), str(ca))
        with pytest.raises(PinMismatch):
            probe_pin(url, "00" * 32, str(ca))
    finally:
        sock.close()
        thread.join(timeout=5)
