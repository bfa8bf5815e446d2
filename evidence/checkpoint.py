"""Signed checkpoints of the ledger head, in the C2SP tlog-checkpoint format.

A checkpoint is a *signed note*::

    <origin>\\n
    <size>\\n
    <base64 root>\\n
    time <RFC 3339 UTC>\\n            (extension line)
    link <base64 chain link>\\n       (extension line)
    \\n
    — <key name> <base64(key hint (4 bytes) || Ed25519 signature (64 bytes))>\\n

The signature covers every byte before the blank line. The key hint is the first
four bytes of ``SHA-256(key name || 0x0A || 0x01 || raw public key)``. Keys are
Ed25519 (``cryptography``), kept in PEM files outside the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.canonical import loads
from evidence.chain import ChainVerifier, Row
from evidence.errors import CheckpointMismatch, Fault, InvalidInput, KeyProblem, LedgerTampered

KEY_NAME = "scimtrail-ledger"
_DASH = "\u2014"


def default_key_path() -> Path:
    env = os.environ.get("SCIMTRAIL_SIGNING_KEY")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "scimtrail" / "ledger-ed25519.pem"


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Load the signing key, creating it (mode 0600) on first use."""
    if path.exists():
        return load_private_key(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except OSError as exc:
        raise KeyProblem(f"cannot create signing key {path}: {exc.strerror}") from exc
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"cannot read signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyProblem(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"{path} holds a {type(key).__name__}, scimtrail signs with Ed25519")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"cannot read public key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise KeyProblem(f"{path} is not a PEM Ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{path} holds a {type(key).__name__}, checkpoints use Ed25519")
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hint(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + raw_public(key)).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The note verifier key string: ``name+hexhint+base64(0x01||pub)``."""
    encoded = base64.b64encode(b"\x01" + raw_public(key)).decode()
    return f"{name}+{key_hint(name, key).hex()}+{encoded}"


def fingerprint(key: Ed25519PublicKey) -> str:
    return "SHA256:" + hashlib.sha256(raw_public(key)).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: str
    link: bytes
    note: str  # the full signed note

    @property
    def body(self) -> str:
        return self.note.split("\n\n", 1)[0] + "\n"

    def as_dict(self) -> dict[str, object]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "time": self.time,
            "link": self.link.hex(),
            "note": self.note,
        }


def note_body(origin: str, size: int, root: bytes, time: str, link: bytes) -> str:
    return (
        f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        f"time {time}\nlink {base64.b64encode(link).decode()}\n"
    )


def sign(
    key: Ed25519PrivateKey, origin: str, size: int, root: bytes, time: str, link: bytes
) -> Checkpoint:
    body = note_body(origin, size, root, time, link)
    sig = key.sign(body.encode())
    hint = key_hint(KEY_NAME, key.public_key())
    note = f"{body}\n{_DASH} {KEY_NAME} {base64.b64encode(hint + sig).decode()}\n"
    return Checkpoint(origin, size, root, time, link, note)


def parse(note: str, source: str = "checkpoint") -> Checkpoint:
    """Parse a signed note (does not check the signature)."""
    try:
        body, sigs = note.split("\n\n", 1)
        lines = body.split("\n")
        origin, size_s, root_b64 = lines[0], lines[1], lines[2]
        ext = dict(line.split(" ", 1) for line in lines[3:])
        size = int(size_s)
        root = base64.b64decode(root_b64, validate=True)
        link = base64.b64decode(ext.get("link", ""), validate=True)
        if len(root) != 32 or size < 0 or not sigs.startswith(_DASH):
            raise ValueError("bad field")
    except (ValueError, IndexError, binascii.Error) as exc:
        raise InvalidInput(
            f"{source} is not a scimtrail checkpoint (C2SP signed note with origin, size, root)"
        ) from exc
    return Checkpoint(origin, size, root, ext.get("time", ""), link, note)


def verify(cp: Checkpoint, key: Ed25519PublicKey, source: str = "checkpoint") -> None:
    """Check that some signature line on the note is a valid signature by ``key``."""
    hint = key_hint(KEY_NAME, key)
    body = cp.body.encode()
    for line in cp.note.split("\n\n", 1)[1].splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            continue
        if parts[1] != KEY_NAME or raw[:4] != hint:
            continue
        try:
            key.verify(raw[4:], body)
            return
        except InvalidSignature:
            break
    raise CheckpointMismatch(
        Fault.BAD_SIGNATURE, f"{source} is not validly signed by key {fingerprint(key)}"
    )


def read_file(path: Path) -> Checkpoint:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read checkpoint {path}: {exc}") from exc
    return parse(text, str(path))


def in_chain_checker(
    pubkey: Ed25519PublicKey | None, origin: str | None = None
) -> Callable[[Row, ChainVerifier], None]:
    """Check a checkpoint entry met in the chain against the tree and link computed so far
    (and against the ledger's origin when given)."""

    def check(row: Row, verifier: ChainVerifier) -> None:
        assert row.body is not None
        data = loads(row.body)
        try:
            cp = parse(data["note"], f"checkpoint entry {row.seq}")
        except (KeyError, TypeError, InvalidInput) as exc:
            raise LedgerTampered(
                row.seq, Fault.MALFORMED, "checkpoint entry is unreadable"
            ) from exc
        if origin is not None and cp.origin != origin:
            raise CheckpointMismatch(
                Fault.REWRITTEN,
                f"checkpoint entry {row.seq} is for ledger {cp.origin!r}, not {origin!r}",
                seq=row.seq,
            )
        if (
            cp.size != verifier.frontier.size
            or cp.root != verifier.frontier.root()
            or cp.link != verifier.link
        ):
            raise CheckpointMismatch(
                Fault.REWRITTEN,
                f"checkpoint entry {row.seq} signed a root for size {cp.size} that the "
                "entries before it no longer produce",
                seq=row.seq,
            )
        if pubkey is not None:
            try:
                verify(cp, pubkey, f"checkpoint entry {row.seq}")
            except CheckpointMismatch as exc:
                raise CheckpointMismatch(exc.fault, exc.detail, seq=row.seq) from exc

    return check
