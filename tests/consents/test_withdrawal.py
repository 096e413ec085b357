"""Withdrawn (the person ended it) and revoked (an organisation ended it): both final, both stop
pending work at once, told apart by the channel of the revoke body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from tests.consents.conftest import EventsOf
from tests.support import Desk, World

BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}


def _revoke(desk: Desk, consent_id: str, headers: dict[str, str], **body: Any) -> Any:
    return desk.client.post(f"/v1/consents/{consent_id}/revoke", json=body, headers=headers)


@pytest.mark.parametrize("channel", ["in_person", "phone", "letter", "email", "self_service"])
@pytest.mark.parametrize("side", ["manager", "staff"])
def test_the_persons_declaration_is_a_withdrawal(
    desk: Desk, events_of: EventsOf, channel: str, side: str
) -> None:
    consent = desk.consent()
    headers = desk.manager if side == "manager" else desk.staff
    response = _revoke(desk, consent["id"], headers, channel=channel)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "withdrawn"
    assert body["status_reason"]["code"] == "withdrawn_by_person"
    assert body["ended_at"]
    event = events_of("consent.revoked")[-1]
    assert event["details"] == {
        "channel": "integration_manager" if side == "manager" else "jobcenter",
        "declared_via": channel,
        "status": "withdrawn",
        "status_reason": "withdrawn_by_person",
    }


@pytest.mark.parametrize(
    ("side", "code"),
    [("manager", "revoked_by_municipality"), ("staff", "revoked_by_jobcenter")],
)
def test_an_organisation_ending_it_on_its_own_account_revokes(
    desk: Desk, events_of: EventsOf, side: str, code: str
) -> None:
    consent = desk.consent()
    headers = desk.manager if side == "manager" else desk.staff
    body = _revoke(desk, consent["id"], headers, channel="case_system").json()
    assert body["status"] == "revoked"
    assert body["status_reason"]["code"] == code
    assert events_of("consent.revoked")[-1]["details"]["status_reason"] == code


def test_self_service_withdrawal(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent()
    code = desk.client.get(f"/v1/consents/{consent['id']}/receipt", headers=desk.manager).json()[
        "self_service_code"
    ]
    done = desk.client.post(f"/v1/self-service/{code}/revoke")
    assert done.json() == {"consent_id": consent["id"], "status": "withdrawn"}
    event = events_of("consent.revoked")[-1]
    assert event["details"]["status"] == "withdrawn"
    assert event["details"]["channel"] == "self_service"
    again = desk.client.post(f"/v1/self-service/{code}/revoke")
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/consent-already-revoked"
    assert again.json()["consent_status"] == "withdrawn"


@pytest.mark.parametrize(
    ("channel", "status"), [("phone", "withdrawn"), ("case_system", "revoked")]
)
def test_both_endings_are_final(desk: Desk, channel: str, status: str) -> None:
    consent = desk.consent()
    assert _revoke(desk, consent["id"], desk.manager, channel=channel).json()["status"] == status
    for path, body in (
        ("revoke", {"channel": "phone"}),
        ("revoke", {"channel": "case_system"}),
        ("pause", {"reason": "x"}),
        ("resume", {"reason": "x"}),
    ):
        response = desk.client.post(
            f"/v1/consents/{consent['id']}/{path}", json=body, headers=desk.staff
        )
        assert response.status_code == 409, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    denied = desk.ask("benefit_status", "benefit_coordination")
    assert denied.status_code == 403
    assert [r["code"] for r in denied.json()["reasons"]] == ["consent_not_active"]


@pytest.mark.parametrize(
    ("channel", "status"), [("letter", "withdrawn"), ("case_system", "revoked")]
)
def test_both_cancel_open_queries_and_stop_undelivered_answers(
    desk: Desk, container: Container, events_of: EventsOf, channel: str, status: str
) -> None:
    consent = desk.consent()
    open_query = desk.ask("benefit_status", "benefit_coordination").json()
    answered = desk.ask("benefit_status", "benefit_coordination").json()
    reply = desk.client.post(
        f"/v1/queries/{answered['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    assert reply.status_code == 200, reply.text
    assert _revoke(desk, consent["id"], desk.staff, channel=channel).json()["status"] == status
    for query in (open_query, answered):
        read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
        assert read["status"] == "cancelled"
        assert "answer" not in read
    cancelled = events_of("query.cancelled")
    assert {tuple(e["reasons"]) for e in cancelled} == {(f"consent_{status}",)}
    assert events_of("query.delivered") == []
    late = desk.client.post(
        f"/v1/queries/{open_query['id']}/answer",
        json={"answer": BENEFIT_ANSWER},
        headers=desk.staff,
    )
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/query-cancelled"


def test_other_organisations_get_404_and_change_nothing(
    desk: Desk, client: TestClient, world: World, events_of: EventsOf
) -> None:
    consent = desk.consent()
    for headers in world.strangers(client):
        for channel in ("phone", "case_system"):
            response = _revoke(desk, consent["id"], headers, channel=channel)
            assert response.status_code == 404
            assert response.json()["type"] == "/problems/consent-not-found"
    # The data protection officer reads consents but ends none.
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    assert _revoke(desk, consent["id"], dpo, channel="phone").status_code == 403
    assert events_of("consent.revoked") == []
    assert (
        desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.manager).json()["status"]
        == "active"
    )


def test_an_unknown_channel_is_refused(desk: Desk) -> None:
    consent = desk.consent()
    response = _revoke(desk, consent["id"], desk.manager, channel="carrier_pigeon")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
