"""Signing keys: generated for development, refused in production, rotated safely."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.keys import KeyPurpose, KeyStore, KeyStoreError
from tests.support import World


def test_development_keys_are_generated_once_per_data_directory(tmp_path: Path) -> None:
    first = KeyStore(tmp_path / "a", production=False)
    first.ensure()
    again = KeyStore(tmp_path / "a", production=False)
    again.ensure()
    other = KeyStore(tmp_path / "b", production=False)
    other.ensure()
    assert first.jwks() == again.jwks()
    assert {k["kid"] for k in first.jwks()["keys"]}.isdisjoint(
        {k["kid"] for k in other.jwks()["keys"]}
    )
    assert {k["alg"] for k in first.jwks()["keys"]} == {"ES256", "Ed25519"}
    for path in (tmp_path / "a").glob("*.jwk.json"):
        assert path.stat().st_mode & 0o777 == 0o600


def test_production_refuses_development_keys_and_missing_keys(tmp_path: Path) -> None:
    KeyStore(tmp_path / "dev", production=False).ensure()
    with pytest.raises(KeyStoreError, match="development keys"):
        KeyStore(tmp_path / "dev", production=True).ensure()
    with pytest.raises(KeyStoreError, match="gateway keys rotate"):
        KeyStore(tmp_path / "empty", production=True).ensure()
    production = KeyStore(tmp_path / "prod", production=True)
    production.rotate()
    production.ensure()


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    client: TestClient, container: Container, world: World
) -> None:
    old_headers = world.case_system.bearer(client)
    old_kid = container.keys.active(KeyPurpose.TOKEN).kid
    (new_key,) = container.keys.rotate([KeyPurpose.TOKEN])
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_key.kid} <= published
    assert client.get("/v1/me", headers=old_headers).status_code == 200
    new_headers = world.case_system.bearer(client)
    assert client.get("/v1/me", headers=new_headers).status_code == 200
    assert container.keys.active(KeyPurpose.TOKEN).kid == new_key.kid
