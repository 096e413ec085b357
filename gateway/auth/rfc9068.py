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
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from gateway.keys import KeyPurpose, KeyStore

TOKEN_TYPES = {"at+jwt", "application/at+jwt"}


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
        leeway=5,
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
