"""JWT profile for OAuth 2.0 access tokens (RFC 9068).

https://www.rfc-editor.org/rfc/rfc9068#section-2 — header ``typ: at+jwt``,
asymmetric signature (ES256 with the gateway's ``token`` key, ``kid`` in the
header), claims ``iss``, ``exp``, ``aud``, ``sub``, ``client_id``, ``iat``,
``jti``, ``scope``, plus the gateway's ``org`` and ``role``. Validation
(section 4) is local: signature against the gateway's published keys, ``typ``,
``iss``, ``aud``, ``exp``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from gateway.keys import KeyPurpose, KeyStore

TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
LEEWAY_SECONDS = 5


class InvalidAccessToken(ValueError):
    """The token is not one this gateway issued and still honours."""


@dataclass(frozen=True)
class IssuedToken:
    value: str
    claims: dict[str, Any]
    expires_in: int


def issue(
    *,
    keys: KeyStore,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    organisation_id: str,
    role: str | None,
    lifetime_seconds: int,
) -> IssuedToken:
    key = keys.active(KeyPurpose.TOKEN)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "client_id": client_id,
        "scope": scope,
        "org": organisation_id,
        "iat": now,
        "exp": now + lifetime_seconds,
        "jti": secrets.token_urlsafe(24),
    }
    if role is not None:
        claims["role"] = role
    value = jwt.encode({"alg": key.alg, "typ": "at+jwt", "kid": key.kid}, claims, key.jwk)
    return IssuedToken(value=value, claims=claims, expires_in=lifetime_seconds)


def validate(value: str, *, keys: KeyStore, issuer: str, audience: str) -> dict[str, Any]:
    try:
        token = jwt.decode(value, keys.verification_keys(KeyPurpose.TOKEN), algorithms=["ES256"])
    except (JoseError, ValueError) as exc:
        raise InvalidAccessToken("the token's signature does not verify") from exc
    if str(token.header.get("typ", "")).lower() not in TOKEN_TYPES:
        raise InvalidAccessToken("the token is not an access token (typ at+jwt)")
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
        client_id={"essential": True},
        jti={"essential": True},
        org={"essential": True},
    )
    try:
        registry.validate(token.claims)
    except JoseError as exc:
        raise InvalidAccessToken(f"the token's claims are not acceptable ({exc.error})") from exc
    return dict(token.claims)


class ValidatedTokens:
    """Claims of tokens that ``validate`` accepted, so a client's next request skips the
    signature check (ECDSA verification is most of the work of a token check).

    Keyed by the whole token, so only the very token that was checked hits. An
    entry lives until the token expires (the same leeway as ``validate``) and at
    most ``max_age_seconds``, and only while the key that signed it is still
    published (a key withdrawn from the key store ends its tokens at once). What
    a cached token may do is still decided per request: revocation, the client
    and the user are looked up each time.
    """

    def __init__(self, *, capacity: int = 4096, max_age_seconds: float = 60.0) -> None:
        self._capacity = capacity
        self._max_age = max_age_seconds
        self._entries: OrderedDict[str, tuple[float, str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def validate(self, value: str, *, keys: KeyStore, issuer: str, audience: str) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            entry = self._entries.get(value)
        if entry is not None:
            checked_at, kid, claims = entry
            if (
                now <= int(claims["exp"]) + LEEWAY_SECONDS
                and now - checked_at <= self._max_age
                and keys.is_published(KeyPurpose.TOKEN, kid)
            ):
                with self._lock:
                    if value in self._entries:
                        self._entries.move_to_end(value)
                return dict(claims)
            with self._lock:
                self._entries.pop(value, None)
        claims = validate(value, keys=keys, issuer=issuer, audience=audience)
        kid = str(jws.extract_compact(value.encode("ascii")).protected.get("kid", ""))
        with self._lock:
            self._entries[value] = (now, kid, claims)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return dict(claims)
