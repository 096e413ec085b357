"""Standard Webhooks delivery through the outbox: signed, retried with backoff, never lost."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from gateway.bootstrap import Container
from gateway.webhooks.models import OutboxMessage, OutboxStatus
from tests.support import World

HOOK = "https://case-system.example/hooks"


def _revoke_a_consent(client: TestClient, world: World) -> str:
    manager = world.case_system.bearer(client, user_id=world.manager)
    subject = client.post(
        "/v1/subjects",
        json={"given_name": "Lina", "family_name": "Berg", "birth_date": "2000-01-01"},
        headers=manager,
    ).json()["id"]
    consent = client.post(
        "/v1/consents",
        json={
            "subject_id": subject,
            "jobcenter_id": world.jobcenter,
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": (date.today() + timedelta(days=30)).isoformat(),
            "language": "en",
            "evidence": {"channel": "paper_signature"},
        },
        headers=manager,
    ).json()
    client.post(f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=manager)
    return str(consent["id"])


@pytest.fixture
def subscription(client: TestClient, world: World) -> dict[str, str]:
    headers = world.case_system.bearer(client, user_id=world.manager)
    response = client.post(
        "/v1/webhooks",
        json={"url": HOOK, "event_types": ["consent.granted", "consent.revoked"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    return dict(body)


def test_signed_delivery(
    client: TestClient, container: Container, world: World, subscription: dict[str, str]
) -> None:
    consent_id = _revoke_a_consent(client, world)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(204))
        report = container.webhooks.deliver_due(container.engine)
    assert report.delivered == 2
    bodies = []
    for call in route.calls:
        request = call.request
        payload = Webhook(subscription["secret"]).verify(request.content, dict(request.headers))
        bodies.append(payload)
        assert request.headers["webhook-id"].startswith("msg_")
    assert [b["type"] for b in bodies] == ["consent.granted", "consent.revoked"]
    assert all(b["data"]["consent_id"] == consent_id for b in bodies)
    assert "Lina" not in json.dumps(bodies), "payloads are thin: no personal data"


def test_failing_endpoint_is_retried_then_marked_failed(
    client: TestClient, container: Container, world: World, subscription: dict[str, str]
) -> None:
    _revoke_a_consent(client, world)
    container.webhooks._backoff_base = timedelta(0)  # retry at once in this test
    container.webhooks._max_attempts = 3
    with respx.mock() as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(500))
        for _ in range(3):
            with Session(container.engine) as session:
                for message in session.exec(select(OutboxMessage)).all():
                    message.next_attempt_at = message.created_at  # lease over
                    session.add(message)
                session.commit()
            container.webhooks.deliver_due(container.engine)
    assert route.call_count == 6  # two messages, three attempts each
    with Session(container.engine) as session:
        failures = container.webhooks.failures(session)
        assert len(failures) == 2
        assert {m.last_error for m in failures} == {"HTTP 500"}
        retried = container.webhooks.retry_failed(session, message_id=failures[0].id)
        assert retried is not None
        session.commit()
    with respx.mock() as mock:
        mock.post(HOOK).mock(return_value=httpx.Response(200))
        assert container.webhooks.deliver_due(container.engine).delivered == 1
    with Session(container.engine) as session:
        statuses = sorted(m.status for m in session.exec(select(OutboxMessage)).all())
        assert statuses == [OutboxStatus.DELIVERED, OutboxStatus.FAILED]


def test_subscriptions_belong_to_their_organisation(
    client: TestClient, world: World, subscription: dict[str, str]
) -> None:
    stranger = world.other_case_system.bearer(client, user_id=world.other_manager)
    assert client.get("/v1/webhooks", headers=stranger).json()["items"] == []
    response = client.delete(f"/v1/webhooks/{subscription['id']}", headers=stranger)
    assert response.status_code == 404
    mine = world.case_system.bearer(client, user_id=world.manager)
    assert [s["id"] for s in client.get("/v1/webhooks", headers=mine).json()["items"]] == [
        subscription["id"]
    ]
    # The organisation's own system without a user manages none (webhooks.own_organisation).
    bare = client.get("/v1/webhooks", headers=world.case_system.bearer(client))
    assert bare.status_code == 403
    assert bare.json()["type"] == "/problems/user-required"


def test_invalid_subscriptions(client: TestClient, world: World) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    for body, status, problem in (
        (
            {"url": "http://case-system.example/hooks", "event_types": ["consent.granted"]},
            422,
            "/problems/invalid-webhook-url",
        ),
        ({"url": HOOK, "event_types": ["consent.exploded"]}, 400, "/problems/invalid-event-types"),
    ):
        response = client.post("/v1/webhooks", json=body, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == problem
