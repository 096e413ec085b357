"""Issue 15, finding 15: a disabled client's or a deactivated user's old tokens worked
again when they were enabled within the tokens' lifetime.

Replayed: tokens (and a web session) taken before disabling, tried after enabling again.
Expected (``gateway.auth.revocation``): the API refuses them, introspection (RFC 7662)
answers inactive, the web session stays ended; tokens issued after enabling work.
"""

from __future__ import annotations

import time
from datetime import timedelta

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.auth import registration
from gateway.auth.models import USER_HOLDER, RevokedBefore
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations.models import User
from gateway.web.accounts import PasswordAccounts
from tests.support import RegisteredClient, World

PASSWORD = "correct horse battery staple"


def _set_client_enabled(container: Container, client_id: str, enabled: bool) -> None:
    with unit_of_work(container.engine) as session:
        registration.set_enabled(
            session, audit=container.audit, client_id=client_id, enabled=enabled
        )


def _set_user_active(container: Container, user_id: str, active: bool) -> None:
    # As an operator's tool or a test would: the ORM attribute, nothing else.
    with unit_of_work(container.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.active = active
        session.add(user)


def _introspected(client: TestClient, caller: RegisteredClient, headers: dict[str, str]) -> bool:
    token = headers["Authorization"].removeprefix("Bearer ")
    response = client.post("/oauth/introspect", data={**caller.auth_form(), "token": token})
    assert response.status_code == 200, response.text
    active: bool = response.json()["active"]
    return active


def _next_second() -> None:
    """``iat`` has whole seconds: a token of the second of disabling counts as older."""
    time.sleep(1.05 - time.time() % 1)


def test_a_re_enabled_clients_old_tokens_stay_revoked(
    client: TestClient, container: Container, world: World
) -> None:
    system = world.case_system
    old = system.bearer(client)
    old_of_user = system.bearer(client, user_id=world.manager)
    assert client.get("/v1/me", headers=old).status_code == 200

    _set_client_enabled(container, system.client_id, False)
    _set_client_enabled(container, system.client_id, True)

    for headers in (old, old_of_user):
        refused = client.get("/v1/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["type"] == "/problems/invalid-token"
        assert _introspected(client, system, headers) is False

    _next_second()
    new = system.bearer(client)
    assert client.get("/v1/me", headers=new).status_code == 200
    assert _introspected(client, system, new) is True


def test_a_re_activated_users_old_tokens_and_web_sessions_stay_ended(
    client: TestClient, container: Container, world: World
) -> None:
    system = world.case_system
    old = system.bearer(client, user_id=world.manager)
    of_the_client = system.bearer(client)  # the client's own token names no user
    accounts = PasswordAccounts(
        audit=container.audit,
        lockout_attempts=5,
        lockout=timedelta(minutes=15),
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    client.app.state.web.accounts = accounts  # type: ignore[attr-defined]
    with unit_of_work(container.engine) as session:
        email = accounts.set_password(session, user_id=world.manager, password=PASSWORD).email
    browser = TestClient(client.app, follow_redirects=False)
    form = browser.get("/web/signin")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed_in = browser.post(
        "/web/signin", data={"csrf_token": csrf, "email": email, "password": PASSWORD}
    )
    assert signed_in.status_code == 303
    assert browser.get("/web/persons").status_code == 200

    _set_user_active(container, world.manager, False)
    _set_user_active(container, world.manager, True)

    assert client.get("/v1/me", headers=old).status_code == 401
    assert _introspected(client, system, old) is False
    assert browser.get("/web/persons").headers["location"].startswith("/web/signin")
    # Only what was issued for the user ended; the client's own token works on.
    assert client.get("/v1/me", headers=of_the_client).status_code == 200
    with Session(container.engine) as session:
        assert session.get(RevokedBefore, (USER_HOLDER, world.manager)) is not None

    _next_second()
    new = system.bearer(client, user_id=world.manager)
    assert client.get("/v1/me", headers=new).status_code == 200
    assert _introspected(client, system, new) is True


def test_enabling_an_enabled_client_revokes_nothing(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client)
    _set_client_enabled(container, world.case_system.client_id, True)
    assert client.get("/v1/me", headers=headers).status_code == 200
