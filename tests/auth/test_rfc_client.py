"""A client written only from the RFCs: discovery, private_key_jwt, JWKS check, introspect, revoke.

Nothing from ``gateway`` is used on the client side: assertions are signed and
tokens verified with ``cryptography`` and the standard library.
"""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.support import CLIENT_ASSERTION_TYPE, ClientKey, World, b64url_decode, register_client


def _verify_es256(
    token: str, jwks: dict[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    keys = [k for k in jwks["keys"] if k["kid"] == header["kid"]]  # type: ignore[index, union-attr]
    assert len(keys) == 1, "the token's kid must be published in the JWKS"
    jwk = keys[0]
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = b64url_decode(signature_b64)
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public.verify(signature, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    return header, json.loads(b64url_decode(payload_b64))


def test_a_client_built_from_the_rfcs_alone(
    client: TestClient, container: Container, world: World
) -> None:
    # RFC 8414 discovery
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == "http://testserver"
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "client_credentials" in metadata["grant_types_supported"]
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in metadata["grant_types_supported"]
    token_endpoint = metadata["token_endpoint"]
    assert token_endpoint == "http://testserver/oauth/token"

    # The operator registers the client with its public JWKS (what `gateway clients add` does).
    key = ClientKey()
    registered = register_client(container, world.municipality, "queries:ask consents:read", key)

    # RFC 7523 private_key_jwt
    response = client.post(
        token_endpoint.removeprefix("http://testserver"),
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": registered.assertion(audience=token_endpoint),
            "scope": "queries:ask",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["scope"] == "queries:ask"

    # RFC 9068: verify against the published JWKS
    jwks = client.get(metadata["jwks_uri"].removeprefix("http://testserver")).json()
    assert all("d" not in k for k in jwks["keys"]), "no private key material is published"
    header, claims = _verify_es256(body["access_token"], jwks)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert claims["iss"] == "http://testserver"
    assert claims["client_id"] == registered.client_id
    assert claims["sub"] == registered.client_id
    assert claims["org"] == world.municipality
    assert claims["scope"] == "queries:ask"
    assert claims["exp"] - claims["iat"] <= 900
    assert {"aud", "jti"} <= claims.keys()

    # A tampered token fails the same verification.
    tampered = body["access_token"][:-4] + (
        "AAAA" if body["access_token"][-4:] != "AAAA" else "BBBB"
    )
    try:
        _verify_es256(tampered, jwks)
        raise AssertionError("tampered signature verified")
    except InvalidSignature:
        pass

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/v1/me", headers=bearer).json()["client_id"] == registered.client_id

    # RFC 7662 introspection
    introspection = client.post(
        metadata["introspection_endpoint"].removeprefix("http://testserver"),
        data={**registered.auth_form(), "token": body["access_token"]},
    ).json()
    assert introspection["active"] is True
    assert introspection["client_id"] == registered.client_id
    assert introspection["scope"] == "queries:ask"

    # RFC 7009 revocation, effective at once for every API endpoint
    revoked = client.post(
        metadata["revocation_endpoint"].removeprefix("http://testserver"),
        data={
            **registered.auth_form(),
            "token": body["access_token"],
            "token_type_hint": "access_token",
        },
    )
    assert revoked.status_code == 200
    after = client.post(
        "/oauth/introspect", data={**registered.auth_form(), "token": body["access_token"]}
    ).json()
    assert after == {"active": False}
    refused = client.get("/v1/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/invalid-token"
