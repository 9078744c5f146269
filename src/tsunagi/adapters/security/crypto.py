"""Envelope encryption of personal data and keyed hashes for equality lookup.

* A **master key** (32 random bytes) lives outside the database: a file (mode 0600) named
  by ``Settings.master_key_file``, or the ``TSUNAGI_MASTER_KEY`` setting (base64).
* Each tenant has a **data key** (32 random bytes), stored only wrapped: AES-GCM under the
  master key with the tenant id as associated data (table ``tenant_keys``).
* A field is sealed with AES-256-GCM under the tenant's data key; the associated data
  binds the ciphertext to its tenant, table, column and row, so a ciphertext copied into
  another row or tenant does not open. Stored form: ``b"\\x01" + nonce(12) + ciphertext``.
* Links handed out (survey invitations) are signed with :meth:`TenantCipher.mac`: HMAC-SHA-256
  under a key derived from the data key per purpose (HKDF, info ``tsunagi mac v1:<purpose>``).
* Lookups (phone, email, member number) use HMAC-SHA-256 under a key derived from the
  data key (HKDF, info ``tsunagi lookup v1``) over the normalised value: equal values
  give equal hashes within a tenant, nothing across tenants, and the hash reveals nothing
  without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import unicodedata
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tsunagi.domain.errors import TsunagiError

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


class CryptoKeyError(TsunagiError):
    """A key is missing, malformed, or does not open the data."""


def load_or_create_master_key(path: Path, *, create: bool) -> bytes:
    """Read the master key file; create it (0600) when allowed and missing."""
    if path.exists():
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
        if len(raw) != KEY_BYTES:
            raise CryptoKeyError(f"{path} must hold {KEY_BYTES} bytes, base64-encoded")
        return raw
    if not create:
        raise CryptoKeyError(
            f"no master key at {path}: create one with `tsunagi keys init` "
            "or set TSUNAGI_MASTER_KEY"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")
    return key


def parse_master_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise CryptoKeyError("TSUNAGI_MASTER_KEY must be base64") from exc
    if len(raw) != KEY_BYTES:
        raise CryptoKeyError(f"TSUNAGI_MASTER_KEY must decode to {KEY_BYTES} bytes")
    return raw


def wrap_data_key(master_key: bytes, tenant_id: UUID, data_key: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT_V1 + nonce + AESGCM(master_key).encrypt(nonce, data_key, tenant_id.bytes)


def unwrap_data_key(master_key: bytes, tenant_id: UUID, wrapped: bytes) -> bytes:
    if wrapped[:1] != FORMAT_V1:
        raise CryptoKeyError("unknown wrapped-key format")
    nonce, body = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    try:
        return AESGCM(master_key).decrypt(nonce, body, tenant_id.bytes)
    except InvalidTag as exc:
        raise CryptoKeyError("the master key does not open this tenant's data key") from exc


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def normalise(kind: str, value: str) -> str:
    """The canonical form compared by lookups: NFKC, no spaces or hyphens in numbers,
    lower-case e-mail addresses, a leading +81 written as 0 for Japanese numbers."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
        if digits.startswith("+81"):
            digits = "0" + digits[3:]
        return digits.lstrip("+")
    if kind == "email":
        return text.lower()
    return text.upper().replace(" ", "")


class TenantCipher:
    """Seals and opens one tenant's personal data; computes its lookup hashes."""

    __slots__ = ("_aead", "_data_key", "_lookup_key", "tenant_id")

    def __init__(self, tenant_id: UUID, data_key: bytes) -> None:
        self.tenant_id = tenant_id
        self._aead = AESGCM(data_key)
        self._data_key = data_key
        self._lookup_key = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=tenant_id.bytes,
            info=b"tsunagi lookup v1",
        ).derive(data_key)

    def seal(self, value: str | None, *, table: str, column: str, row_id: UUID) -> bytes | None:
        if value is None:
            return None
        return self.seal_bytes(value.encode(), table=table, column=column, row_id=row_id)

    def open(self, sealed: bytes | None, *, table: str, column: str, row_id: UUID) -> str | None:
        if sealed is None:
            return None
        return self.open_bytes(sealed, table=table, column=column, row_id=row_id).decode()

    def seal_bytes(self, value: bytes, *, table: str, column: str, row_id: UUID) -> bytes:
        """Seal binary content (an attachment, an original message) bound to its row."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = self._aad(table, column, row_id)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, value, aad)

    def open_bytes(self, sealed: bytes, *, table: str, column: str, row_id: UUID) -> bytes:
        if sealed[:1] != FORMAT_V1:
            raise CryptoKeyError("unknown ciphertext format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._aad(table, column, row_id))
        except InvalidTag as exc:
            raise CryptoKeyError(f"{table}.{column} of {row_id} does not open") from exc

    def lookup_hash(self, kind: str, value: str) -> str:
        digest = hmac.new(
            self._lookup_key, f"{kind}:{normalise(kind, value)}".encode(), hashlib.sha256
        )
        return digest.hexdigest()

    def mac(self, purpose: str, message: bytes) -> bytes:
        """HMAC-SHA-256 of ``message`` under a key derived for ``purpose`` (HKDF, info
        ``tsunagi mac v1:<purpose>``): signs what the tenant hands out, e.g. survey links.
        Distinct purposes never share a key, and neither does the lookup hash."""
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=self.tenant_id.bytes,
            info=b"tsunagi mac v1:" + purpose.encode(),
        ).derive(self._data_key)
        return hmac.new(key, message, hashlib.sha256).digest()

    def _aad(self, table: str, column: str, row_id: UUID) -> bytes:
        return b"|".join((self.tenant_id.bytes, table.encode(), column.encode(), row_id.bytes))
