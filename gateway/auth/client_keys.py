"""The public keys a client signs its assertions with: a stored JWK Set or a ``jwks_uri``.

A ``jwks_uri`` is fetched with a short timeout and cached for
``cache_seconds``; a key id the cache does not know triggers a refetch, so a
client can rotate its keys without telling the operator (RFC 7517 section 5,
OpenID Connect Core section 10.1 on key rotation).

Anyone can send an assertion with a made-up ``kid`` for a registered client
id, so fetching is bounded (issue 15, finding 9: a refetch per request, inside
the write transaction, blocked the API):

- ``prefetch`` is the only step that reaches the network, and the token
  endpoint calls it before it opens its database transaction; ``keys_for``,
  called inside the transaction, reads the cache only.
- A client's ``jwks_uri`` is fetched at most once per ``refetch_seconds``,
  whether the fetch succeeded or not; within that time an unknown key id
  fails at once (the signature does not verify: ``invalid_client``).
- Concurrent requests for one client share one fetch (single flight): the
  others wait for it, at most the fetch timeout, and use what it brought.

The cache and these limits are per process: N gateway processes fetch a
client's keys at most N times per ``refetch_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.auth.models import OAuthClient

MAX_DOCUMENT_BYTES = 64 * 1024


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


@dataclass(frozen=True)
class KeysWanted:
    """What one request will verify with: a client's ``jwks_uri`` and the key ids it names."""

    client_id: str
    jwks_uri: str
    kids: tuple[str | None, ...]


@dataclass(frozen=True)
class FetchLimits:
    refetch_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class _Cached:
    uri: str
    keys: KeySet | None  # None: no fetch of this uri has succeeded yet
    fetched_at: float  # monotonic time of the fetch that brought ``keys``
    attempted_at: float  # monotonic time of the last fetch, whatever its outcome


class ClientKeyResolver:
    def __init__(
        self,
        *,
        http: httpx.Client,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, _Cached] = {}  # by client id
        self._flights: dict[str, threading.Lock] = {}  # by client id: one fetch at a time
        self._lock = threading.Lock()  # guards both dictionaries

    def keys_for(self, client: OAuthClient, *, kid: str | None) -> KeySet:
        """The keys to verify the client's assertion with; never reaches the network.

        For a ``jwks_uri``, what ``prefetch`` cached; an unknown ``kid`` gets the
        cached keys all the same, and the signature check refuses the assertion.
        """
        if client.jwks:
            return _stored_jwks(client.jwks)
        if not client.jwks_uri:
            raise ClientKeysUnavailable("the client has neither a JWK Set nor a jwks_uri")
        keys = self._fresh(client.id, client.jwks_uri)
        if keys is None:
            raise ClientKeysUnavailable(
                "the client's JWK Set could not be fetched from its jwks_uri; retry later"
            )
        return keys

    def prefetch(self, wanted: KeysWanted, *, limits: FetchLimits) -> None:
        """Fetch the client's JWK Set if the cache cannot serve ``wanted``, within the limits.

        Blocks on the network: call it with no database transaction open. Never
        raises for a failed fetch; ``keys_for`` then has nothing fresh and says so.
        """
        if self._serves(wanted):
            return
        flight = self._flight(wanted.client_id)
        # Another request's fetch for this client is under way: wait for it rather than fetch.
        if not flight.acquire(timeout=limits.timeout_seconds):
            return
        try:
            if self._serves(wanted):
                return  # the fetch we waited for brought what we need
            now = self._clock()
            with self._lock:
                cached = self._cache.get(wanted.client_id)
            if cached is not None and cached.uri != wanted.jwks_uri:
                cached = None  # the client registered another uri: start afresh
            interval = min(limits.refetch_seconds, self._cache_seconds)
            if cached is not None and now - cached.attempted_at < interval:
                return  # fetched moments ago: an unknown kid now is not a rotation
            try:
                keys: KeySet | None = self._fetch(wanted.jwks_uri, limits.timeout_seconds)
                fetched_at = self._clock()
            except ClientKeysUnavailable:
                keys = cached.keys if cached is not None else None
                fetched_at = cached.fetched_at if cached is not None else now
            with self._lock:
                self._cache[wanted.client_id] = _Cached(
                    uri=wanted.jwks_uri, keys=keys, fetched_at=fetched_at, attempted_at=now
                )
        finally:
            flight.release()

    def _fresh(self, client_id: str, uri: str) -> KeySet | None:
        with self._lock:
            cached = self._cache.get(client_id)
        if cached is None or cached.uri != uri or cached.keys is None:
            return None
        if self._clock() - cached.fetched_at >= self._cache_seconds:
            return None
        return cached.keys

    def _serves(self, wanted: KeysWanted) -> bool:
        keys = self._fresh(wanted.client_id, wanted.jwks_uri)
        return keys is not None and all(kid is None or _has_kid(keys, kid) for kid in wanted.kids)

    def _flight(self, client_id: str) -> threading.Lock:
        with self._lock:
            return self._flights.setdefault(client_id, threading.Lock())

    def _fetch(self, uri: str, timeout: float) -> KeySet:
        try:
            response = self._http.get(uri, timeout=timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_DOCUMENT_BYTES:
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
