"""OAuth 2.0 Authorization Server Metadata (RFC 8414 section 2).

https://www.rfc-editor.org/rfc/rfc8414#section-2 — every URL is built from
the configured issuer, so the document stays true behind any proxy.
"""

from __future__ import annotations

from typing import Any

from gateway.auth import rfc7523
from gateway.auth.scopes import Scope
from gateway.settings import Settings

SIGNING_ALGORITHMS = ["ES256", "ES384", "Ed25519", "EdDSA", "RS256", "PS256"]


def metadata(settings: Settings) -> dict[str, Any]:
    auth_methods = ["private_key_jwt"]
    if settings.allow_client_secret_basic:
        auth_methods.append("client_secret_basic")
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", rfc7523.JWT_BEARER_GRANT],
        "response_types_supported": [],
        "scopes_supported": [scope.value for scope in Scope],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "service_documentation": f"{issuer}/docs",
    }
