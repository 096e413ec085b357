"""Issue 15, finding 8: one slow webhook receiver stalled the scheduler.

Deliveries ran one after another inside the tick that also expires consents,
signs checkpoints, enforces deadlines and deletes answers: ten subscriptions
to a receiver that never answers delayed another organisation's webhook by
103 s. Now a dispatcher of its own delivers concurrently (a bounded pool, one
message per subscription, at most half the workers per organisation) with a
time budget per request, and the tick does not deliver at all.

The receivers run on loopback, which the destination rules allow only because
these tests list 127.0.0.1 in ``webhook_allowed_internal_hosts``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.app import _tick
from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.consents.models import Consent, ConsentStatus
from gateway.settings import Settings
from tests.support import Desk, World
from tests.webhooks.receivers import Receiver, SilentServer, running_receiver, silent_server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_allowed_internal_hosts": ["127.0.0.1"],
            "webhook_timeout_seconds": 1.0,
            "webhook_poll_seconds": 0.1,
        }
    )


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


def _subscribe_ten_to_the_silent_receiver(desk: Desk, silent: SilentServer) -> None:
    for index in range(10):
        response = desk.client.post(
            "/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{silent.port}/hooks/{index}",
                "event_types": ["consent.granted", "consent.expired"],
            },
            headers=desk.manager,
        )
        assert response.status_code == 201, response.text


def test_a_receiver_that_never_answers_delays_no_other_organisation(
    client: TestClient, world: World, silent: SilentServer, receiver: Receiver
) -> None:
    desk = Desk(client, world)
    _subscribe_ten_to_the_silent_receiver(desk, silent)
    consent = desk.consent()  # ten messages to the silent receiver, first in line
    subscribed = client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "event_types": ["consent.revoked"]},
        headers=desk.staff,  # the jobcenter: another organisation
    )
    assert subscribed.status_code == 201, subscribed.text

    revoked_at = time.monotonic()
    revoked = client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=desk.manager
    )
    assert revoked.status_code == 200, revoked.text

    assert receiver.wait(timeout=3.0), "the jobcenter's webhook waited behind the silent receiver"
    assert receiver.requests[0].at - revoked_at < 3.0
    assert receiver.requests[0].path == "/hooks"
    assert silent.connections, "the silent receiver was being tried meanwhile"


def test_the_scheduler_does_not_wait_for_webhook_deliveries(
    client: TestClient, container: Container, world: World, silent: SilentServer
) -> None:
    desk = Desk(client, world)
    _subscribe_ten_to_the_silent_receiver(desk, silent)
    consent = desk.consent()
    with Session(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        row.valid_until = utcnow() - timedelta(minutes=1)
        session.add(row)
        session.commit()

    started = time.monotonic()
    tick = threading.Thread(target=_tick, args=(container,), daemon=True)
    tick.start()
    tick.join(timeout=3.0)
    assert not tick.is_alive(), "the tick waited for webhook deliveries"
    assert time.monotonic() - started < 3.0
    with Session(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        assert row.status is ConsentStatus.EXPIRED
