"""Withdrawal and revocation reach the recipients (GDPR Art. 17, 19): the gateway deletes the
answers it holds, one audit event each, and every organisation that received answers under
the consent gets a signed notice to delete them. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from gateway.bootstrap import Container
from gateway.queries.models import Query
from tests.support import Desk, World

HOOK = "https://case-system.example/deletion"
JOBCENTER_HOOK = "https://jobcenter.example/hooks"
BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}


@pytest.fixture
def desk(client: TestClient, world: World) -> Desk:
    return Desk(client, world)


def _subscribe(desk: Desk, headers: dict[str, str], url: str) -> str:
    response = desk.client.post(
        "/v1/webhooks",
        json={"url": url, "event_types": ["consent.deletion_requested"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def _answered(desk: Desk, *, read: bool) -> str:
    query = desk.ask("benefit_status", "benefit_coordination").json()
    answered = desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    assert answered.status_code == 200, answered.text
    if read:
        assert desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()["answer"]
    return str(query["id"])


def _audit(desk: Desk, event_type: str) -> list[dict[str, Any]]:
    # The gateway itself deletes and notifies: system events, which the operator's officer reads.
    dpo = desk.world.operator_client.bearer(desk.client, user_id=desk.world.operator_dpo)
    items = desk.client.get("/v1/audit/events", params={"type": event_type}, headers=dpo).json()
    return [item["event"] for item in items["items"]]


@pytest.mark.parametrize(
    ("channel", "status"), [("in_person", "withdrawn"), ("case_system", "revoked")]
)
def test_ending_a_consent_deletes_its_answers_and_notifies_the_recipients(
    desk: Desk, container: Container, channel: str, status: str
) -> None:
    secret = _subscribe(desk, desk.manager, HOOK)
    consent = desk.consent()
    delivered = [_answered(desk, read=True), _answered(desk, read=True)]
    unread = _answered(desk, read=False)

    ended = desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": channel}, headers=desk.manager
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == status

    # The gateway holds no answer any more; each deletion is on the trail.
    with Session(container.engine) as session:
        for query_id in [*delivered, unread]:
            query = session.get(Query, query_id)
            assert query is not None
            assert query.answer_sealed is None
    deleted = _audit(desk, "query.answer_deleted")
    assert sorted(e["query"] for e in deleted) == sorted([*delivered, unread])
    assert {tuple(e["reasons"]) for e in deleted} == {(f"consent_{status}",)}
    assert all(e["details"]["legal_basis"] == "Art. 17 Abs. 1 Buchst. b DSGVO" for e in deleted)
    assert (
        desk.client.get(f"/v1/queries/{delivered[0]}", headers=desk.manager).json().get("answer")
        is None
    )

    # One notice to the one organisation that received answers: the two it read.
    [notice_event] = _audit(desk, "consent.deletion_requested")
    assert notice_event["details"]["recipient"] == desk.world.municipality
    assert notice_event["details"]["query_ids"] == sorted(delivered)
    assert notice_event["details"]["webhooks"] == 1
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(204))
        assert container.webhooks.deliver_due(container.engine).delivered == 1
    request = route.calls[0].request
    notice = Webhook(secret).verify(request.content, dict(request.headers))  # signed
    assert notice["type"] == "consent.deletion_requested"
    assert notice["data"] == {
        "consent_id": consent["id"],
        "subject_id": desk.subject,
        "status": status,
        "query_ids": sorted(delivered),
        "legal_basis": "Art. 17 Abs. 1 Buchst. b, Art. 19 DSGVO",
    }
    assert "Demir" not in request.content.decode()  # ids only, never the person


def test_the_jobcenter_hears_of_answers_it_received_in_the_other_direction(
    desk: Desk, container: Container, world: World
) -> None:
    _subscribe(desk, desk.staff, JOBCENTER_HOOK)
    consent = desk.consent()
    query = desk.ask("integration_plan_goals", "integration_planning", headers=desk.staff).json()
    assert query["status"] == "routed", query
    answered = desk.client.post(
        f"/v1/queries/{query['id']}/answer",
        json={"answer": {"goals": [{"goal": "Sprachkurs B1", "status": "in_progress"}]}},
        headers=desk.manager,
    )
    assert answered.status_code == 200, answered.text
    assert desk.client.get(f"/v1/queries/{query['id']}", headers=desk.staff).json()["answer"]

    revoked = desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=desk.staff
    )
    assert revoked.status_code == 200, revoked.text
    [notice_event] = _audit(desk, "consent.deletion_requested")
    assert notice_event["details"]["recipient"] == world.jobcenter
    assert notice_event["details"]["query_ids"] == [query["id"]]


def test_expiry_and_pause_delete_nothing(desk: Desk, container: Container) -> None:
    consent = desk.consent()
    query_id = _answered(desk, read=True)
    paused = desk.client.post(
        f"/v1/consents/{consent['id']}/pause", json={"reason": "Umzug"}, headers=desk.manager
    )
    assert paused.status_code == 200, paused.text
    assert _audit(desk, "query.answer_deleted") == []
    assert _audit(desk, "consent.deletion_requested") == []
    with Session(container.engine) as session:
        query = session.get(Query, query_id)
        assert query is not None
        assert query.answer_sealed is not None


def test_without_answers_there_is_nobody_to_notify(desk: Desk) -> None:
    consent = desk.consent()
    desk.ask("benefit_status", "benefit_coordination")  # asked, never answered
    desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=desk.manager
    )
    assert _audit(desk, "query.answer_deleted") == []
    assert _audit(desk, "consent.deletion_requested") == []


def test_answers_given_under_an_earlier_version_go_with_the_withdrawal(
    desk: Desk, container: Container
) -> None:
    _subscribe(desk, desk.manager, HOOK)
    first = desk.consent()
    under_first = _answered(desk, read=True)
    terms = {
        key: value
        for key, value in first.items()
        if key in {"purposes", "categories", "directions", "language"}
    }
    amended = desk.client.post(
        f"/v1/consents/{first['id']}/amend",
        json={
            **terms,
            "valid_until": first["valid_until"][:10],
            "evidence": {"channel": "paper_signature"},
        },
        headers=desk.manager,
    )
    assert amended.status_code == 201, amended.text
    under_second = _answered(desk, read=True)

    withdrawn = desk.client.post(
        f"/v1/consents/{amended.json()['id']}/revoke",
        json={"channel": "in_person"},
        headers=desk.manager,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    deleted = _audit(desk, "query.answer_deleted")
    assert sorted(e["query"] for e in deleted) == sorted([under_first, under_second])
    [notice_event] = _audit(desk, "consent.deletion_requested")
    assert notice_event["details"]["query_ids"] == sorted([under_first, under_second])
    with Session(container.engine) as session:
        query = session.get(Query, under_first)
        assert query is not None
        assert query.answer_sealed is None
