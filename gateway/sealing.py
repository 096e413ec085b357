"""Data at rest: AES-256-GCM sealing (NIST SP 800-38D) and the HMAC-SHA-256 blind index (RFC 2104).

A sealed value is ``<kid>.<base64url(nonce || ciphertext || tag)>``: it names
the key that sealed it, so retired keys still open old values and
``gateway keys rotate`` can re-seal them with the active key. The associated
data binds a ciphertext to its row and field, so a value copied into another
row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.keys import KeyPurpose, KeyStore

NONCE_BYTES = 12


class SealingError(ValueError):
    """A sealed value could not be opened: wrong key, wrong context or altered bytes."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Sealer:
    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def seal(self, plaintext: bytes, *, context: str) -> str:
        key = self._keys.active(KeyPurpose.DATA)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key.secret_bytes).encrypt(nonce, plaintext, context.encode("utf-8"))
        return f"{key.kid}.{_b64(nonce + sealed)}"

    def open(self, value: str, *, context: str) -> bytes:
        kid, _, body = value.partition(".")
        raw = _unb64(body)
        key = self._keys.secret(kid)
        try:
            return AESGCM(key.secret_bytes).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")
            )
        except InvalidTag as exc:
            raise SealingError("sealed value does not open in this context") from exc

    def is_current(self, value: str) -> bool:
        return value.partition(".")[0] == self._keys.active(KeyPurpose.DATA).kid

    def blind_index(self, normalised: str, *, domain: str) -> str:
        """A keyed, deterministic index: equal inputs match, nothing can be read back."""
        key = self._keys.active(KeyPurpose.INDEX)
        message = f"{domain}\x1f{normalised}".encode()
        return hmac.new(key.secret_bytes, message, hashlib.sha256).hexdigest()
