"""The dispatcher: a fair share of workers per organisation, and a breaker per subscription."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.settings import Settings
from gateway.webhooks.delivery import DeliveryOptions
from gateway.webhooks.destinations import Destinations
from gateway.webhooks.dispatcher import WebhookDispatcher
from gateway.webhooks.models import OutboxMessage, OutboxStatus
from tests.support import Desk, World
from tests.webhooks.receivers import SilentServer, silent_server

HOOK = "https://case-system.example/hooks"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Subscriptions to the loopback receiver pass; the app's own dispatcher stays idle
    # (it polls once a minute), so only the dispatcher of each test delivers.
    return settings.model_copy(
        update={"webhook_allowed_internal_hosts": ["127.0.0.1"], "webhook_poll_seconds": 60.0}
    )


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LOOPBACK_ALLOWED = Destinations(internal=frozenset({("127.0.0.1", None)}), allow_http=True)


def _dispatcher(
    container: Container, options: DeliveryOptions, clock: Clock | None = None
) -> WebhookDispatcher:
    return WebhookDispatcher(
        engine=container.engine, sealer=container.sealer, options=options, clock=clock or Clock()
    )


def test_one_organisation_gets_at_most_half_of_the_workers(
    client: TestClient, container: Container, world: World, silent: SilentServer
) -> None:
    desk = Desk(client, world)
    for index in range(10):
        response = client.post(
            "/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{silent.port}/{index}",
                "event_types": ["consent.granted"],
            },
            headers=desk.manager,
        )
        assert response.status_code == 201, response.text
    desk.consent()
    options = DeliveryOptions(destinations=LOOPBACK_ALLOWED, workers=4, timeout_seconds=1.0)
    with _dispatcher(container, options) as dispatcher:
        dispatcher.start(interval=0.05)
        time.sleep(0.5)  # within the time budget of the first two
        assert len(silent.connections) == 2
    with Session(container.engine) as session:
        attempts = sorted(m.attempts for m in session.exec(select(OutboxMessage)).all())
    assert attempts[-1] == 1, "each message was tried at most once by now"


def test_an_open_circuit_holds_messages_without_spending_attempts(
    client: TestClient, container: Container, world: World
) -> None:
    desk = Desk(client, world)
    response = client.post(
        "/v1/webhooks", json={"url": HOOK, "event_types": ["consent.granted"]}, headers=desk.manager
    )
    assert response.status_code == 201
    for _ in range(3):
        desk.consent()
    clock = Clock()
    options = DeliveryOptions(
        destinations=LOOPBACK_ALLOWED,
        breaker_threshold=2,
        breaker_reset_seconds=30,
        backoff_base=timedelta(0),
    )
    dispatcher = _dispatcher(container, options, clock)
    with dispatcher, respx.mock() as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(503))
        report = dispatcher.deliver_due()
        assert (report.retried, route.call_count) == (2, 2)
        assert dispatcher.breakers.state(response.json()["id"]) == "open"
        with Session(container.engine) as session:
            messages = session.exec(select(OutboxMessage)).all()
            assert sorted(m.attempts for m in messages) == [0, 1, 1]
        assert dispatcher.deliver_due().retried == 0  # still open: nothing goes

        clock.now += 30  # one trial, and it succeeds: the circuit closes and the rest go
        route.mock(return_value=httpx.Response(204))
        assert dispatcher.deliver_due().delivered == 3
    with Session(container.engine) as session:
        statuses = {m.status for m in session.exec(select(OutboxMessage)).all()}
    assert statuses == {OutboxStatus.DELIVERED}
