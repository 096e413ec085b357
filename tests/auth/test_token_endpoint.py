"""The token endpoint's grants and every kind of bad input: right error, nothing changed."""

from __future__ import annotations

import base64
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.audit.models import AuditEventRow
from gateway.auth import registration
from gateway.auth.models import UsedAssertion
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations.models import User
from tests.support import (
    CLIENT_ASSERTION_TYPE,
    JWT_BEARER,
    ClientKey,
    World,
    assertion_claims,
    b64url,
)

AUD = "http://testserver/oauth/token"


def _state(container: Container) -> tuple[int, int]:
    with Session(container.engine) as session:
        events = session.exec(select(func.count()).select_from(AuditEventRow)).one()
        used = session.exec(select(func.count()).select_from(UsedAssertion)).one()
    return int(events), int(used)


def _refused(
    client: TestClient, container: Container, form: dict[str, str], error: str, status: int = 400
) -> None:
    before = _state(container)
    response = client.post("/oauth/token", data=form)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    assert _state(container) == before, "a refused request changes nothing"


def test_client_credentials_grant(client: TestClient, world: World) -> None:
    response = world.case_system.token(client, scope="queries:ask consents:read")
    assert response.status_code == 200
    assert response.json()["scope"] == "consents:read queries:ask"
    me = client.get(
        "/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["role"] is None
    assert me.json()["organisation_id"] == world.municipality


def test_jwt_bearer_grant_acts_for_a_user_of_the_clients_organisation(
    client: TestClient, world: World
) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    me = client.get("/v1/me", headers=headers).json()
    assert me["user_id"] == world.manager
    assert me["role"] == "integration_manager"
    # The role narrows what the client may do: a manager never gets audit:read.
    assert "audit:read" not in me["scope"].split()


def test_jwt_bearer_grant_refuses_a_user_of_another_organisation(
    client: TestClient, container: Container, world: World
) -> None:
    form = world.case_system.auth_form(grant_type=JWT_BEARER)
    form["assertion"] = world.case_system.assertion(subject=world.staff)
    _refused(client, container, form, "invalid_grant")


def test_jwt_bearer_grant_refuses_an_unknown_user(
    client: TestClient, container: Container, world: World
) -> None:
    form = world.case_system.auth_form(grant_type=JWT_BEARER)
    form["assertion"] = world.case_system.assertion(subject="usr_doesnotexist")
    _refused(client, container, form, "invalid_grant")


def test_scope_beyond_the_client_is_refused(
    client: TestClient, container: Container, world: World
) -> None:
    form = world.case_system.auth_form(grant_type="client_credentials", scope="admin")
    _refused(client, container, form, "invalid_scope")


def test_unknown_client(client: TestClient, container: Container, world: World) -> None:
    key = ClientKey()
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": key.sign(assertion_claims("cli_unknown", AUD)),
    }
    _refused(client, container, form, "invalid_client", 401)


def test_assertion_signed_with_the_wrong_key(
    client: TestClient, container: Container, world: World
) -> None:
    impostor = ClientKey(kid=world.case_system.key.kid)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": impostor.sign(assertion_claims(world.case_system.client_id, AUD)),
    }
    _refused(client, container, form, "invalid_client", 401)


def test_expired_assertion(client: TestClient, container: Container, world: World) -> None:
    claims = assertion_claims(world.case_system.client_id, AUD)
    claims["exp"] = int(time.time()) - 120
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": world.case_system.key.sign(claims),
    }
    _refused(client, container, form, "invalid_client", 401)


def test_assertion_without_exp_or_living_too_long(
    client: TestClient, container: Container, world: World
) -> None:
    for change in ({"exp": None}, {"exp": int(time.time()) + 86400}, {"jti": None}):
        claims = {**assertion_claims(world.case_system.client_id, AUD), **change}
        claims = {k: v for k, v in claims.items() if v is not None}
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": world.case_system.key.sign(claims),
        }
        _refused(client, container, form, "invalid_client", 401)


def test_assertion_for_another_audience(
    client: TestClient, container: Container, world: World
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": world.case_system.assertion(audience="https://elsewhere.example/token"),
    }
    _refused(client, container, form, "invalid_client", 401)


def test_replayed_jti(client: TestClient, container: Container, world: World) -> None:
    form = world.case_system.auth_form(grant_type="client_credentials")
    assert client.post("/oauth/token", data=form).status_code == 200
    _refused(client, container, form, "invalid_client", 401)


def test_alg_none(client: TestClient, container: Container, world: World) -> None:
    claims = assertion_claims(world.case_system.client_id, AUD)
    unsigned = (
        b64url(json.dumps({"alg": "none"}).encode())
        + "."
        + b64url(json.dumps(claims).encode())
        + "."
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": unsigned,
    }
    _refused(client, container, form, "invalid_client", 401)


def test_hmac_with_the_public_key_as_secret_is_refused(
    client: TestClient, container: Container, world: World
) -> None:
    import hashlib
    import hmac

    claims = assertion_claims(world.case_system.client_id, AUD)
    signing_input = (
        b64url(json.dumps({"alg": "HS256"}).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    secret = json.dumps(world.case_system.key.public_jwks()).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": signing_input + "." + b64url(signature),
    }
    _refused(client, container, form, "invalid_client", 401)


def test_disabled_client_gets_no_token_and_its_tokens_stop_working(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client)
    with unit_of_work(container.engine) as session:
        registration.set_enabled(
            session, audit=container.audit, client_id=world.case_system.client_id, enabled=False
        )
    assert client.get("/v1/me", headers=headers).status_code == 401
    _refused(
        client,
        container,
        world.case_system.auth_form(grant_type="client_credentials"),
        "invalid_client",
        401,
    )


def test_a_deactivated_users_tokens_stop_working_and_introspect_inactive(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert client.get("/v1/me", headers=headers).status_code == 200

    def introspected() -> object:
        form = {**world.case_system.auth_form(), "token": token}
        return client.post("/oauth/introspect", data=form).json()["active"]

    assert introspected() is True
    with unit_of_work(container.engine) as session:
        user = session.get(User, world.manager)
        assert user is not None
        user.active = False
        session.add(user)
    refused = client.get("/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/invalid-token"
    assert introspected() is False

    # Revoked while the user is inactive, the token stays revoked when they are active again.
    form = {**world.case_system.auth_form(), "token": token}
    assert client.post("/oauth/revoke", data=form).status_code == 200
    with unit_of_work(container.engine) as session:
        user = session.get(User, world.manager)
        assert user is not None
        user.active = True
        session.add(user)
    assert client.get("/v1/me", headers=headers).status_code == 401


def test_token_from_another_issuer_is_refused(client: TestClient, world: World) -> None:
    # A well-formed at+jwt, signed by a key the gateway does not know, claiming another issuer.
    forger = ClientKey()
    claims = {
        "iss": "https://evil.example",
        "aud": "http://testserver/v1",
        "sub": world.manager,
        "client_id": world.case_system.client_id,
        "org": world.municipality,
        "scope": "audit:read",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "jti": "forged-token-id",
    }
    token = forger.sign(claims, header={"typ": "at+jwt"})
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-token"


def test_missing_and_malformed_requests(
    client: TestClient, container: Container, world: World
) -> None:
    _refused(client, container, {}, "invalid_request")
    _refused(client, container, {"grant_type": "password"}, "unsupported_grant_type")
    _refused(client, container, {"grant_type": "client_credentials"}, "invalid_client", 401)
    before = _state(container)
    response = client.post(
        "/oauth/token", content=b'{"grant_type": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    repeated = client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"
    assert _state(container) == before


def test_a_one_megabyte_body_is_refused_before_it_is_read(
    client: TestClient, container: Container
) -> None:
    before = _state(container)
    response = client.post(
        "/oauth/token",
        content=b"grant_type=" + b"a" * (1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert _state(container) == before


def test_client_secret_basic_is_off_unless_enabled(
    client: TestClient, container: Container, world: World
) -> None:
    with unit_of_work(container.engine) as session:
        registered, secret = registration.add_client(
            session,
            audit=container.audit,
            organisation_id=world.municipality,
            name="dev client",
            scopes="queries:ask",
            secret_basic=True,
        )
    assert secret is not None
    basic = base64.b64encode(f"{registered.id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("field", ["client_id", "scope", "grant_type"])
def test_sql_looking_values_are_only_values(
    client: TestClient, container: Container, world: World, field: str
) -> None:
    form = world.case_system.auth_form(grant_type="client_credentials")
    form[field] = "x' OR '1'='1'; DROP TABLE oauth_clients; --"
    before = _state(container)
    response = client.post("/oauth/token", data=form)
    assert response.status_code in {400, 401}
    assert _state(container) == before
    assert world.case_system.token(client).status_code == 200
