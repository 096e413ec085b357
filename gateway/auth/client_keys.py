"""The public keys a client signs its assertions with: a stored JWK Set or a ``jwks_uri``.

A ``jwks_uri`` is fetched with a short timeout and cached; a key id the cache
does not know triggers one refetch, so a client can rotate its keys without
telling the operator (RFC 7517 section 5, OpenID Connect key rotation practice).
"""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.auth.models import OAuthClient


class ClientKeysUnavailable(RuntimeError):
    """The client's keys could not be read or fetched."""


def parse_jwks(document: Any) -> KeySet:
    """Import a public JWK Set, refusing private or symmetric keys."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWK Set is an object with a 'keys' array")
    for key in document["keys"]:
        if not isinstance(key, dict):
            raise ValueError("each JWK must be an object")
        if key.get("kty") == "oct":
            raise ValueError("symmetric keys are not accepted")
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi")):
            raise ValueError("the JWK Set holds private key material; register public keys only")
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]  # shape checked above
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable JWK Set: {exc}") from exc


class ClientKeyResolver:
    def __init__(self, *, http: httpx.Client, cache_seconds: float) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()

    def keys_for(self, client: OAuthClient, *, kid: str | None) -> KeySet:
        if client.jwks:
            return _stored_jwks(client.jwks)
        if not client.jwks_uri:
            raise ClientKeysUnavailable("the client has neither a JWK Set nor a jwks_uri")
        with self._lock:
            cached = self._cache.get(client.jwks_uri)
        fresh = cached is not None and time.monotonic() - cached[0] < self._cache_seconds
        if cached is not None and fresh and (kid is None or _has_kid(cached[1], kid)):
            return cached[1]
        keys = self._fetch(client.jwks_uri)
        with self._lock:
            self._cache[client.jwks_uri] = (time.monotonic(), keys)
        return keys

    def _fetch(self, uri: str) -> KeySet:
        try:
            response = self._http.get(uri, timeout=5.0, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > 64 * 1024:
                raise ClientKeysUnavailable("the JWK Set document is too large")
            return parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise ClientKeysUnavailable(f"could not fetch the client's JWK Set: {exc}") from exc


@lru_cache(maxsize=256)
def _stored_jwks(document: str) -> KeySet:
    """A registered JWK Set, imported once per distinct document (importing EC keys is slow)."""
    return parse_jwks(json.loads(document))


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
