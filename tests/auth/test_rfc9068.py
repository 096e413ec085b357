"""Access tokens (RFC 9068): a checked token's claims are reused, never beyond its expiry."""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc import jwt

from gateway.auth import rfc9068
from gateway.keys import KeyPurpose, KeyStore

ISSUER = "https://gateway.example"
AUDIENCE = f"{ISSUER}/v1"


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys", production=False)
    store.ensure()
    return store


def _issue(keys: KeyStore, *, lifetime: int = 600) -> str:
    return rfc9068.issue(
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="usr_1",
        client_id="cli_1",
        scope="queries:ask",
        organisation_id="org_1",
        role="integration_manager",
        lifetime_seconds=lifetime,
    ).value


def test_a_checked_token_is_not_verified_again(
    keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = rfc9068.ValidatedTokens()
    value = _issue(keys)
    first = tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    monkeypatch.setattr(rfc9068, "validate", pytest.fail)  # any second check fails the test
    again = tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    assert again == first
    again["sub"] = "changed"
    assert tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)["sub"] == "usr_1"


def test_an_expired_token_is_refused_although_it_was_checked(
    keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = rfc9068.ValidatedTokens()
    value = _issue(keys, lifetime=60)
    tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    later = rfc9068.time.time() + 60 + rfc9068.LEEWAY_SECONDS + 1
    monkeypatch.setattr(rfc9068.time, "time", lambda: later)
    with pytest.raises(rfc9068.InvalidAccessToken):
        tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)


def test_a_forged_token_is_verified_and_refused(keys: KeyStore, tmp_path: Path) -> None:
    tokens = rfc9068.ValidatedTokens()
    genuine = _issue(keys)
    tokens.validate(genuine, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    other = KeyStore(tmp_path / "other", production=False)
    other.ensure()
    forged = _issue(other)
    with pytest.raises(rfc9068.InvalidAccessToken):
        tokens.validate(forged, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    assert jwt.decode(genuine, keys.verification_keys(KeyPurpose.TOKEN)).claims["sub"] == "usr_1"


def test_a_token_whose_key_is_withdrawn_is_refused_although_it_was_checked(
    keys: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = rfc9068.ValidatedTokens()
    value = _issue(keys)
    tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)
    other = KeyStore(tmp_path / "other", production=False)
    other.ensure()
    # The key store no longer publishes the key that signed the token (say, it leaked).
    monkeypatch.setattr(keys, "verification_keys", other.verification_keys)
    monkeypatch.setattr(keys, "is_published", other.is_published)
    with pytest.raises(rfc9068.InvalidAccessToken):
        tokens.validate(value, keys=keys, issuer=ISSUER, audience=AUDIENCE)
