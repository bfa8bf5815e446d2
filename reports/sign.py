"""Signatures on the pack: a detached Ed25519 signature over the manifest, and PAdES.

* The manifest (canonical JSON, RFC 8785) is signed with the ledger's Ed25519 key, the
  same key whose public half verifies the ledger checkpoint; the signature travels as
  ``manifest.sig.json`` next to ``manifest.json`` inside the PDF.
* The finished PDF is signed with pyHanko (PAdES baseline B-B, SHA-256) using a key and
  X.509 certificate from configuration. The signature is an incremental update, so the
  unsigned PDF is a byte prefix of the signed one; the signature's ``/Reason`` records
  that prefix's SHA-256 and length, which ``verify-pack`` checks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from evidence import checkpoint as cpmod
from evidence.canonical import loads
from reports.pack_errors import PackMismatch, SigningSetupError

_REASON = re.compile(r"unsigned-sha256=([0-9a-f]{64}); unsigned-length=(\d+)")


# -- the manifest's detached Ed25519 signature ------------------------------------------
def sign_manifest(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    """``manifest.sig.json``: algorithm, key fingerprint and base64 signature."""
    doc = {
        "algorithm": "Ed25519",
        "key_fingerprint": cpmod.fingerprint(key.public_key()),
        "signed_file": "manifest.json",
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }
    return json.dumps(doc, sort_keys=True, indent=2).encode() + b"\n"


def verify_manifest(manifest: bytes, signature_doc: bytes, key: Ed25519PublicKey) -> str:
    """Check the detached signature; return the key fingerprint or raise PackMismatch."""
    try:
        doc = loads(signature_doc)
        sig = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise PackMismatch("manifest.sig.json", "not a scimtrail manifest signature") from exc
    fingerprint = cpmod.fingerprint(key)
    if doc.get("key_fingerprint") != fingerprint:
        raise PackMismatch(
            "manifest.sig.json",
            f"signed by key {doc.get('key_fingerprint')}, expected {fingerprint}",
        )
    try:
        key.verify(sig, manifest)
    except InvalidSignature as exc:
        raise PackMismatch(
            "manifest.json", "the Ed25519 signature does not match the manifest bytes"
        ) from exc
    return fingerprint


# -- PAdES with pyHanko -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PdfSigner:
    key_path: Path
    cert_path: Path
    cert_sha256: str
    subject: str


def load_pdf_signer(key_path: Path, cert_path: Path) -> PdfSigner:
    """Check that the key and certificate load; keep their paths for signing."""
    for p in (key_path, cert_path):
        if not p.is_file():
            raise SigningSetupError(p, "no such file")
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as exc:
        raise SigningSetupError(cert_path, "not a PEM X.509 certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningSetupError(key_path, "not an unencrypted PEM private key") from exc
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SigningSetupError(cert_path, f"the certificate is not for the key in {key_path}")
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return PdfSigner(key_path, cert_path, digest, cert.subject.rfc4514_string())


def sign_pdf(unsigned: bytes, signer: PdfSigner, *, pack_id: str) -> bytes:
    """PAdES-sign ``unsigned`` as an incremental update; the reason records its hash."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    reason = (
        f"scimtrail audit pack {pack_id}; unsigned-sha256={hashlib.sha256(unsigned).hexdigest()}"
        f"; unsigned-length={len(unsigned)}"
    )
    try:
        simple = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
            str(signer.key_path), str(signer.cert_path)
        )
    except Exception as exc:  # pyHanko raises assorted errors for unreadable keys
        raise SigningSetupError(signer.key_path, str(exc)) from exc
    if simple is None:
        raise SigningSetupError(signer.key_path, "pyHanko could not load the key and certificate")
    meta = signers.PdfSignatureMetadata(
        field_name="PackSignature",
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        name=signer.subject,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(unsigned))
        out = signers.PdfSigner(meta, simple).sign_pdf(writer)
    except Exception as exc:  # pyHanko's signing errors have no common base class
        raise SigningSetupError(signer.cert_path, f"pyHanko could not sign: {exc}") from exc
    return bytes(out.getvalue())


@dataclass(frozen=True, slots=True)
class PdfSignatureCheck:
    signer: str
    cert_sha256: str
    trusted: bool  # checked against a certificate the auditor supplied
    signed_at: str
    unsigned_sha256: str
    unsigned_length: int


def check_pdf_signature(data: bytes, trusted_cert: Path | None = None) -> PdfSignatureCheck:
    """Validate the pack's PAdES signature; raise PackMismatch naming what is wrong."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
    except Exception as exc:  # pyHanko's reader raises several types on damaged files
        raise PackMismatch("the PDF", f"it cannot be parsed ({exc})") from exc
    if not sigs:
        raise PackMismatch("the PDF signature", "the PDF carries no signature")
    if len(sigs) != 1:
        raise PackMismatch(
            "the PDF signature", f"the PDF carries {len(sigs)} signatures; a pack is signed once"
        )
    sig = sigs[0]
    signer_cert = sig.signer_cert
    roots: list[Any] = [signer_cert]
    if trusted_cert is not None:
        roots = [load_cert_from_pemder(str(trusted_cert))]  # type: ignore[no-untyped-call]
    try:
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=roots))
    except Exception as exc:
        raise PackMismatch("the PDF signature", f"it cannot be validated ({exc})") from exc
    if not status.intact:
        raise PackMismatch(
            "the PDF signature", "the signed bytes were changed after signing (digest mismatch)"
        )
    if not status.valid:
        raise PackMismatch("the PDF signature", "the signature value does not verify")
    if status.coverage is None or status.coverage.name != "ENTIRE_FILE":
        raise PackMismatch(
            "the PDF signature", "the signature does not cover the whole file: bytes were added"
        )
    if trusted_cert is not None and not status.trusted:
        raise PackMismatch(
            "the PDF signature", f"the signer is not the certificate in {trusted_cert}"
        )
    reason = str(sig.sig_object.get("/Reason", ""))
    m = _REASON.search(reason)
    if m is None:
        raise PackMismatch("the PDF signature", "its reason does not record the unsigned hash")
    length = int(m.group(2))
    prefix = data[:length]
    if hashlib.sha256(prefix).hexdigest() != m.group(1) or not prefix.rstrip().endswith(b"%%EOF"):
        raise PackMismatch(
            "the unsigned PDF", "the signed file does not start with the recorded unsigned PDF"
        )
    cert_der = signer_cert.dump()
    signed_at = sig.self_reported_timestamp
    return PdfSignatureCheck(
        signer=signer_cert.subject.human_friendly,
        cert_sha256=hashlib.sha256(cert_der).hexdigest(),
        trusted=trusted_cert is not None,
        signed_at=signed_at.isoformat() if signed_at else "",
        unsigned_sha256=m.group(1),
        unsigned_length=length,
    )


def make_self_signed(key_out: Path, cert_out: Path, common_name: str) -> PdfSigner:
    """An EC P-256 key and a self-signed certificate (for the demo and tests)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scimtrail demo"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_out.parent.mkdir(parents=True, exist_ok=True)
    cert_out.parent.mkdir(parents=True, exist_ok=True)
    key_out.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_out.chmod(0o600)
    cert_out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return load_pdf_signer(key_out, cert_out)


__all__ = [
    "PdfSignatureCheck",
    "PdfSigner",
    "check_pdf_signature",
    "load_pdf_signer",
    "make_self_signed",
    "sign_manifest",
    "sign_pdf",
    "verify_manifest",
]
