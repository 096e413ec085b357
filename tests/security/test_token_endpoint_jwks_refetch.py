"""Issue 15, finding 9: made-up key ids made the token endpoint fetch a client's jwks_uri
on every request, inside the write transaction (ten slow requests blocked the API for 50 s).

Replayed against a client registered with a ``jwks_uri`` (mocked with respx): bursts of
client assertions signed by keys with random ``kid``s. Expected: at most one fetch per
client per refetch window, never with a database transaction open in the fetching thread,
unknown kids refused at once with ``invalid_client``, concurrent requests sharing one
fetch, and other clients served while a jwks_uri is slow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Connection

from gateway.auth import registration
from gateway.auth.client_keys import ClientKeyResolver, FetchLimits, KeysWanted
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.settings import Settings
from tests.support import ALL, ClientKey, RegisteredClient, World

JWKS_URI = "https://keys.case-system.example/jwks.json"
REFETCH_SECONDS = 1  # the smallest window the settings allow: the test waits it out once


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwks_uri_refetch_seconds": REFETCH_SECONDS})


class KeyServer:
    """The client's jwks_uri: serves ``keys``, counts fetches, notes open transactions."""

    def __init__(self, key: ClientKey, open_transactions: set[int]) -> None:
        self.keys = key.public_jwks()
        self.fetches = 0
        self.in_transaction: list[bool] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._open = open_transactions

    def __call__(self, _request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        self.in_transaction.append(threading.get_ident() in self._open)
        self.entered.set()
        assert self.release.wait(10), "the test never released the slow jwks_uri"
        return httpx.Response(200, json=self.keys)


@pytest.fixture
def open_transactions(container: Container) -> Iterator[set[int]]:
    """Threads that have a database transaction open right now."""
    threads: set[int] = set()

    def begun(_connection: Connection) -> None:
        threads.add(threading.get_ident())

    def ended(_connection: Connection) -> None:
        threads.discard(threading.get_ident())

    listeners: list[tuple[str, Any]] = [("begin", begun), ("commit", ended), ("rollback", ended)]
    for name, listener in listeners:
        event.listen(container.engine, name, listener)
    yield threads
    for name, listener in listeners:
        event.remove(container.engine, name, listener)


@pytest.fixture
def jwks_client(container: Container, world: World) -> RegisteredClient:
    key = ClientKey()
    with unit_of_work(container.engine) as session:
        registered, _ = registration.add_client(
            session,
            audit=container.audit,
            organisation_id=world.municipality,
            name="Case system with a jwks_uri",
            scopes=ALL,
            jwks_uri=JWKS_URI,
        )
    return RegisteredClient(client_id=registered.id, organisation_id=world.municipality, key=key)


@pytest.fixture
def key_server(jwks_client: RegisteredClient, open_transactions: set[int]) -> Iterator[KeyServer]:
    server = KeyServer(jwks_client.key, open_transactions)
    with respx.mock(assert_all_called=False) as mock:
        mock.get(JWKS_URI).mock(side_effect=server)
        yield server


def _with_key(registered: RegisteredClient, key: ClientKey) -> RegisteredClient:
    return RegisteredClient(registered.client_id, registered.organisation_id, key)


def _random_kid_requests(client: TestClient, registered: RegisteredClient, count: int) -> None:
    for _ in range(count):
        response = _with_key(registered, ClientKey()).token(client)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"


def test_random_kids_refetch_at_most_once_per_window_and_outside_any_transaction(
    client: TestClient, jwks_client: RegisteredClient, key_server: KeyServer
) -> None:
    assert jwks_client.token(client).status_code == 200
    assert key_server.fetches == 1  # the first request fills the cache

    started = time.monotonic()
    _random_kid_requests(client, jwks_client, 10)
    assert key_server.fetches == 1, "an unknown kid within the window must not refetch"
    assert time.monotonic() - started < 5  # and fails fast

    # The next window: the client rotated its key; its first request refetches once ...
    time.sleep(REFETCH_SECONDS + 0.1)
    rotated = ClientKey()
    key_server.keys = rotated.public_jwks()
    assert _with_key(jwks_client, rotated).token(client).status_code == 200
    assert key_server.fetches == 2
    # ... and made-up kids right after it fetch nothing.
    _random_kid_requests(client, jwks_client, 10)
    assert key_server.fetches == 2

    assert key_server.in_transaction == [False, False], "fetched inside a transaction"


def test_a_slow_jwks_uri_does_not_hold_up_other_clients(
    client: TestClient, world: World, jwks_client: RegisteredClient, key_server: KeyServer
) -> None:
    key_server.release.clear()
    slow: list[int] = []
    attacker = threading.Thread(
        target=lambda: slow.append(_with_key(jwks_client, ClientKey()).token(client).status_code)
    )
    attacker.start()
    try:
        assert key_server.entered.wait(5)
        started = time.monotonic()
        # On SQLite the old code held the write lock while it waited for the jwks_uri.
        assert world.case_system.token(client).status_code == 200
        assert time.monotonic() - started < 3
    finally:
        key_server.release.set()
        attacker.join(10)
    assert slow == [401]
    assert key_server.in_transaction == [False]


def test_concurrent_requests_for_one_client_share_one_fetch() -> None:
    fetches: list[float] = []

    def slow_keys(_request: httpx.Request) -> httpx.Response:
        fetches.append(time.monotonic())
        time.sleep(0.2)
        return httpx.Response(200, json=ClientKey(kid="known").public_jwks())

    limits = FetchLimits(refetch_seconds=60, timeout_seconds=2)
    with respx.mock() as mock, httpx.Client() as http:
        mock.get(JWKS_URI).mock(side_effect=slow_keys)
        resolver = ClientKeyResolver(http=http, cache_seconds=300)
        start = threading.Barrier(8)

        def request(kid: str) -> None:
            start.wait()
            resolver.prefetch(KeysWanted("cli_1", JWKS_URI, (kid,)), limits=limits)

        kids = [f"made-up-{n}" for n in range(7)] + ["known"]
        threads = [threading.Thread(target=request, args=(kid,)) for kid in kids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert len(fetches) == 1
