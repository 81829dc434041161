"""Secrets at rest: AES-256-GCM with a key from the environment or a key file created 0600 on first start.

Each sealed value carries a fresh 96-bit nonce and is bound to its resource id (associated data), so a
ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"


class Vault:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, secrets: dict[str, str], *, bound_to: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, orjson.dumps(secrets), bound_to.encode())

    def open(self, sealed: bytes, *, bound_to: str) -> dict[str, str]:
        if not sealed.startswith(_VERSION):
            raise ValueError("unknown secret format")
        nonce, body = sealed[2:14], sealed[14:]
        try:
            plain = self._aead.decrypt(nonce, body, bound_to.encode())
        except InvalidTag:
            raise ValueError("secret cannot be decrypted with this key") from None
        result: dict[str, str] = orjson.loads(plain)
        return result


def load_or_create_key(path: Path, *, env_value: str | None = None, size: int = 32) -> bytes:
    """Key from ``env_value`` (base64) if given, else from ``path``, created 0600 with random bytes."""
    if env_value:
        return base64.b64decode(env_value)
    if path.exists():
        return base64.b64decode(path.read_bytes().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key))
    return key
