"""Keys of the gateway: generation, rotation, publication of the public ones as a JWK Set.

Signing purposes, each with one active key and any number of retired ones:

- ``token``: RFC 9068 access tokens, ES256 (the most widely supported asymmetric alg);
- ``audit``: signed tree heads of the audit trail, EdDSA over Ed25519 (JOSE alg
  ``Ed25519``, the fully-specified name RFC 9864 gives to EdDSA with Ed25519);
- ``receipt``: consent receipts, same algorithm.

Secret purposes, never published:

- ``data``: AES-256-GCM keys for identity attributes and other data at rest;
  rotation re-encrypts (``gateway keys rotate``), retired keys still decrypt;
- ``index``: the HMAC-SHA-256 key of the blind index that finds a person again
  without storing their name; it is not rotated (every index would change).

Keys are JWK files in the key directory (one file per key, mode 0600), so
several gateway processes sharing the directory sign and verify alike; a
process notices a rotation by the directory's change time. A key generated
automatically is marked ``dev`` and refused in production. Retired token keys
stay published until every token they signed has expired; retired audit and
receipt keys stay published for good, because old checkpoints and receipts must
remain verifiable.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, JWKRegistry, KeySet, OctKey, OKPKey

from gateway.clock import as_utc, utcnow
from gateway.ids import new_id


class KeyPurpose(StrEnum):
    TOKEN = "token"  # noqa: S105 - a purpose name, not a secret
    AUDIT = "audit"
    RECEIPT = "receipt"
    DATA = "data"
    INDEX = "index"

    @property
    def secret(self) -> bool:
        return self in {KeyPurpose.DATA, KeyPurpose.INDEX}


SIGNING_PURPOSES = [KeyPurpose.TOKEN, KeyPurpose.AUDIT, KeyPurpose.RECEIPT]
ROTATED_BY_DEFAULT = [*SIGNING_PURPOSES, KeyPurpose.DATA]


ALGORITHMS: dict[KeyPurpose, str] = {
    KeyPurpose.TOKEN: "ES256",
    KeyPurpose.AUDIT: "Ed25519",
    KeyPurpose.RECEIPT: "Ed25519",
    KeyPurpose.DATA: "A256GCM",
    KeyPurpose.INDEX: "HS256",
}

# Tokens live at most 15 minutes (settings cap); a retired token key is
# published this long after retirement so every token it signed can still be
# checked by resource servers.
TOKEN_KEY_GRACE = timedelta(minutes=20)


class KeyStoreError(RuntimeError):
    """The key directory is missing keys or holds keys unfit for this mode."""


@dataclass(frozen=True)
class StoredKey:
    kid: str
    purpose: KeyPurpose
    created_at: datetime
    retired_at: datetime | None
    dev: bool
    jwk: ECKey | OKPKey | OctKey

    @property
    def alg(self) -> str:
        return ALGORITHMS[self.purpose]

    @property
    def secret_bytes(self) -> bytes:
        if not isinstance(self.jwk, OctKey):
            raise KeyStoreError(f"key {self.kid} is not a secret key")
        return bytes(self.jwk.raw_value)

    def public_jwk(self) -> dict[str, Any]:
        if self.purpose.secret:
            raise KeyStoreError("secret keys are never published")
        public = dict(self.jwk.as_dict(private=False))
        public.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return public

    def to_file(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "purpose": self.purpose.value,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "dev": self.dev,
            "jwk": self.jwk.as_dict(private=True),
        }

    @classmethod
    def from_file(cls, data: dict[str, Any]) -> StoredKey:
        key = JWKRegistry.import_key(data["jwk"])
        if not isinstance(key, ECKey | OKPKey | OctKey):
            raise KeyStoreError(f"key {data['kid']} is not an EC, OKP or oct key")
        retired = data.get("retired_at")
        return cls(
            kid=data["kid"],
            purpose=KeyPurpose(data["purpose"]),
            created_at=as_utc(datetime.fromisoformat(data["created_at"])),
            retired_at=as_utc(datetime.fromisoformat(retired)) if retired else None,
            dev=bool(data.get("dev", False)),
            jwk=key,
        )


def _generate(purpose: KeyPurpose, *, dev: bool) -> StoredKey:
    kid = new_id(purpose.value)
    jwk: ECKey | OKPKey | OctKey
    if purpose.secret:
        jwk = OctKey.generate_key(256, parameters={"kid": kid})
    elif purpose is KeyPurpose.TOKEN:
        jwk = ECKey.generate_key("P-256", parameters={"kid": kid})
    else:
        jwk = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    return StoredKey(
        kid=kid, purpose=purpose, created_at=utcnow(), retired_at=None, dev=dev, jwk=jwk
    )


class KeyStore:
    """The gateway's signing keys, read from and written to one directory."""

    def __init__(self, directory: Path, *, production: bool) -> None:
        self._directory = directory
        self._production = production
        self._lock = threading.Lock()
        self._keys: list[StoredKey] = []
        self._stamp: tuple[int, int] | None = None
        self._checked_at = 0.0

    @property
    def directory(self) -> Path:
        return self._directory

    # -- loading ---------------------------------------------------------------

    def ensure(self) -> None:
        """Load keys, generating development keys for missing purposes outside production."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._reload(force=True)
        missing = [p for p in KeyPurpose if self._active_or_none(p) is None]
        if missing and self._production:
            names = ", ".join(p.value for p in missing)
            raise KeyStoreError(
                f"no active signing key for: {names}; create them with 'gateway keys rotate'"
            )
        for purpose in missing:
            self._write(_generate(purpose, dev=True))
        self._reload(force=True)
        if self._production and any(key.dev for key in self._keys):
            raise KeyStoreError(
                "development keys found in the key directory; they are refused in production"
            )

    def _directory_stamp(self) -> tuple[int, int]:
        entries = list(self._directory.glob("*.jwk.json"))
        newest = max((entry.stat().st_mtime_ns for entry in entries), default=0)
        return (len(entries), newest)

    def _reload(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < 1.0:
            return
        with self._lock:
            self._checked_at = now
            stamp = self._directory_stamp()
            if not force and stamp == self._stamp:
                return
            keys = [
                StoredKey.from_file(json.loads(path.read_text(encoding="utf-8")))
                for path in sorted(self._directory.glob("*.jwk.json"))
            ]
            self._keys = sorted(keys, key=lambda key: key.created_at)
            self._stamp = stamp

    def _write(self, key: StoredKey) -> None:
        path = self._directory / f"{key.kid}.jwk.json"
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(key.to_file(), handle, indent=2)
        os.replace(temporary, path)

    # -- use ---------------------------------------------------------------------

    def _active_or_none(self, purpose: KeyPurpose) -> StoredKey | None:
        candidates = [k for k in self._keys if k.purpose is purpose and k.retired_at is None]
        return candidates[-1] if candidates else None

    def active(self, purpose: KeyPurpose) -> StoredKey:
        self._reload()
        key = self._active_or_none(purpose)
        if key is None:
            raise KeyStoreError(f"no active {purpose.value} key")
        return key

    def _published(self) -> list[StoredKey]:
        now = utcnow()

        def still_needed(key: StoredKey) -> bool:
            if key.retired_at is None or key.purpose is not KeyPurpose.TOKEN:
                return True
            return key.retired_at + TOKEN_KEY_GRACE > now

        return [key for key in self._keys if not key.purpose.secret and still_needed(key)]

    def verification_keys(self, purpose: KeyPurpose) -> KeySet:
        self._reload()
        return KeySet([k.jwk for k in self._published() if k.purpose is purpose])

    def is_published(self, purpose: KeyPurpose, kid: str) -> bool:
        """Whether ``kid`` is among ``verification_keys(purpose)``, without building the set."""
        self._reload()
        return any(key.kid == kid and key.purpose is purpose for key in self._published())

    def secret(self, kid: str) -> StoredKey:
        """A secret key by id, retired or not: old ciphertexts name the key that sealed them."""
        self._reload()
        for key in self._keys:
            if key.kid == kid and key.purpose.secret:
                return key
        self._reload(force=True)
        for key in self._keys:
            if key.kid == kid and key.purpose.secret:
                return key
        raise KeyStoreError(f"unknown secret key {kid}")

    def jwks(self, purpose: KeyPurpose | None = None) -> dict[str, Any]:
        """The public JWK Set (RFC 7517 section 5) of every key still needed to verify."""
        self._reload()
        published = self._published()
        if purpose is not None:
            published = [key for key in published if key.purpose is purpose]
        return {"keys": [key.public_jwk() for key in published]}

    def rotate(self, purposes: list[KeyPurpose] | None = None) -> list[StoredKey]:
        """Create a new active key per purpose; the previous one is retired, not deleted."""
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._reload(force=True)
        created: list[StoredKey] = []
        if purposes and KeyPurpose.INDEX in purposes and self._active_or_none(KeyPurpose.INDEX):
            raise KeyStoreError("the blind-index key is not rotated: every index would change")
        if not purposes:
            purposes = list(ROTATED_BY_DEFAULT)
            if self._active_or_none(KeyPurpose.INDEX) is None:
                purposes.append(KeyPurpose.INDEX)  # created once, then kept
        for purpose in purposes:
            previous = self._active_or_none(purpose)
            new_key = _generate(purpose, dev=not self._production)
            self._write(new_key)
            if previous is not None:
                self._write(replace(previous, retired_at=utcnow()))
            created.append(new_key)
        self._reload(force=True)
        return created
