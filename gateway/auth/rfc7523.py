"""JWT profile for client authentication and authorization grants (RFC 7523).

https://www.rfc-editor.org/rfc/rfc7523#section-3 — both the client assertion
(``private_key_jwt``, section 2.2) and the JWT bearer grant (section 2.1) are
JWTs signed with the client's registered key. Checked here: the signature with
an allowed asymmetric algorithm (never ``none``, never HMAC), ``iss``, ``sub``,
``aud`` (the token endpoint URL or the issuer), ``exp`` (required and short),
``nbf``/``iat`` when present, and ``jti`` (required; replay is refused by the
caller, which records it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALLOWED_ALGORITHMS = ["ES256", "ES384", "Ed25519", "EdDSA", "RS256", "PS256"]
CLOCK_SKEW_SECONDS = 30


class AssertionError_(ValueError):
    """The assertion is not acceptable; the message says why (safe to show the client)."""


@dataclass(frozen=True)
class VerifiedAssertion:
    issuer: str
    subject: str
    jti: str
    expires_at: datetime
    claims: dict[str, Any]


def peek(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims *without* verification, only to find which keys to verify with."""
    try:
        compact = jws.extract_compact(assertion.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise AssertionError_("the assertion is not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise AssertionError_("the assertion's payload is not a JSON object")
    return dict(compact.protected), claims


def verify(
    assertion: str,
    *,
    keys: KeySet,
    expected_issuer: str,
    expected_subject: str | None,
    audiences: list[str],
    max_lifetime_seconds: int,
) -> VerifiedAssertion:
    try:
        token = jwt.decode(assertion, keys, algorithms=ALLOWED_ALGORITHMS)
    except JoseError as exc:
        raise AssertionError_(f"the assertion's signature does not verify ({exc.error})") from exc
    claims = dict(token.claims)
    now = int(time.time())
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": expected_issuer},
        sub={"essential": True},
        aud={"essential": True, "values": audiences},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise AssertionError_(
            f"the assertion's claims are not acceptable ({exc.description or exc.error})"
        ) from exc
    if expected_subject is not None and claims["sub"] != expected_subject:
        raise AssertionError_("the assertion's 'sub' must be the client_id")
    expires = int(claims["exp"])
    if expires - now > max_lifetime_seconds:
        raise AssertionError_(
            f"the assertion lives too long: 'exp' may be at most {max_lifetime_seconds} s ahead"
        )
    if not isinstance(claims["jti"], str) or not 8 <= len(claims["jti"]) <= 200:
        raise AssertionError_("'jti' must be a string of 8 to 200 characters")
    return VerifiedAssertion(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        jti=claims["jti"],
        expires_at=datetime.fromtimestamp(expires, UTC),
        claims=claims,
    )
