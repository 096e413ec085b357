"""Issue 15, finding 7: webhook subscriptions were a server-side request forgery tool.

Any https host was accepted (cloud metadata at 169.254.169.254, private
ranges, loopback, IPv6 literals, credentials in the URL), and in development
plain http to any loopback port, the gateway's own API included. Now the URL
is judged when an organisation subscribes, the resolved addresses again right
before each delivery connects, and a refused delivery fails with its reason.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.settings import Settings
from gateway.webhooks.destinations import Destinations
from gateway.webhooks.models import OutboxMessage, OutboxStatus, WebhookSubscription
from tests.support import Desk, World
from tests.webhooks.receivers import SilentServer, silent_server

REFUSED = [
    "https://169.254.169.254/latest/meta-data/",  # cloud instance metadata
    "https://10.0.0.1/hooks",
    "https://192.168.1.10/hooks",
    "https://172.16.0.1/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://127.0.0.1/hooks",
    "https://0.0.0.0/hooks",
    "https://224.0.0.1/hooks",
    "https://[::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://[fd00::1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",  # IPv4-mapped
    "https://[64:ff9b::a9fe:a9fe]/hooks",  # NAT64 of 169.254.169.254
    "https://127.1/hooks",  # short forms the resolver reads as 127.0.0.1
    "https://2130706433/hooks",
    "https://localhost/hooks",
    "https://metadata/computeMetadata/v1/",  # a single label: an internal name
    "https://user:pw@case-system.example/hooks",
    "https://token@case-system.example/hooks",
    "http://127.0.0.1:8000/v1/consents",  # the gateway's own API, in development
    "http://localhost:8000/v1/consents",
    "http://case-system.example/hooks",
    "file:///etc/passwd",
]


def _subscribe(client: TestClient, headers: dict[str, str], url: str) -> Any:
    return client.post(
        "/v1/webhooks", json={"url": url, "event_types": ["consent.granted"]}, headers=headers
    )


def test_internal_destinations_and_credentials_are_refused_at_subscription(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    for url in REFUSED:
        response = _subscribe(client, headers, url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "/problems/invalid-webhook-url", url
    credentials = _subscribe(client, headers, "https://user:pw@case-system.example/hooks").json()
    assert "credentials" in credentials["detail"]
    assert "pw" not in credentials["detail"]
    with Session(container.engine) as session:
        assert session.exec(select(WebhookSubscription)).all() == []


def test_the_gateway_itself_stays_refused_when_loopback_is_allowed(settings: Settings) -> None:
    rules = Destinations.from_settings(
        settings.model_copy(update={"webhook_allowed_internal_hosts": ["127.0.0.1", "localhost"]})
    )
    assert rules.url_refusal("http://127.0.0.1:9000/hooks") is None
    for url in (
        f"http://127.0.0.1:{settings.port}/v1/consents",
        f"http://localhost:{settings.port}/",
        f"{settings.issuer}/v1/consents",
    ):
        assert rules.url_refusal(url) == "it points at the gateway itself", url


def test_subscriptions_per_organisation_are_capped(client: TestClient, world: World) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    made = [
        _subscribe(client, headers, f"https://case-system.example/hooks/{i}") for i in range(10)
    ]
    assert [response.status_code for response in made] == [201] * 10
    refused = _subscribe(client, headers, "https://case-system.example/hooks/10")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/too-many-webhook-subscriptions"
    assert refused.json()["limit"] == 10
    # Another organisation has its own allowance; a deleted subscription frees a place.
    other = world.other_case_system.bearer(client, user_id=world.other_manager)
    assert _subscribe(client, other, "https://lauffen.example/hooks").status_code == 201
    assert client.delete(f"/v1/webhooks/{made[0].json()['id']}", headers=headers).status_code == 204
    assert _subscribe(client, headers, "https://case-system.example/hooks/11").status_code == 201


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


def _messages(container: Container) -> list[OutboxMessage]:
    with Session(container.engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(
    client: TestClient,
    container: Container,
    world: World,
    silent: SilentServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = Desk(client, world)
    # Public-looking at subscription time; at delivery its name points at the gateway's host.
    url = f"https://hooks.attacker.example:{silent.port}/x"
    assert _subscribe(client, desk.manager, url).status_code == 201
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.attacker.example":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    desk.consent()
    report = container.webhooks.deliver_due(container.engine)
    assert (report.delivered, report.retried, report.failed) == (0, 0, 1)
    assert lookups == ["hooks.attacker.example"]
    assert silent.connections == [], "no connection may reach the internal address"
    [message] = _messages(container)
    assert message.status is OutboxStatus.FAILED
    assert message.attempts == 1
    assert message.last_error is not None
    assert "127.0.0.1" in message.last_error
    assert "loopback" in message.last_error
    # Failed for good: later passes leave it alone.
    assert container.webhooks.deliver_due(container.engine).failed == 0
    assert _messages(container)[0].attempts == 1


def test_a_subscription_made_before_the_rules_is_refused_at_delivery(
    client: TestClient, container: Container, world: World, silent: SilentServer
) -> None:
    desk = Desk(client, world)
    assert _subscribe(client, desk.manager, "https://case-system.example/hooks").status_code == 201
    with Session(container.engine) as session:
        subscription = session.exec(select(WebhookSubscription)).one()
        # What the old code accepted in development: http to any loopback port.
        subscription.url = f"http://127.0.0.1:{silent.port}/v1/consents"
        session.add(subscription)
        session.commit()
    desk.consent()
    started = utcnow()
    report = container.webhooks.deliver_due(container.engine)
    assert report.failed == 1
    assert silent.connections == []
    [message] = _messages(container)
    assert message.status is OutboxStatus.FAILED
    assert message.last_error == "refused: it must be an https:// URL"
    assert (utcnow() - started).total_seconds() < 2
