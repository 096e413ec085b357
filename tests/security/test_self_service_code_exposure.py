"""Finding 1: the self-service code was handed to anyone who could read a consent.

The receipt gave ``self_service_code`` to read-only data protection officers
(the operator's officer reads every consent) and to the jobcenter's staff; with
it they withdrew the consent, recorded as the person's own withdrawal with an
empty actor, and no receipt read was audited.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import Desk, World


def _events(client: TestClient, world: World, **params: str) -> list[dict[str, Any]]:
    headers = world.operator_client.bearer(client, user_id=world.operator_dpo)
    response = client.get("/v1/audit/events", params={**params, "limit": "500"}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["event"] for item in response.json()["items"]]


def test_only_the_recording_integration_manager_sees_the_code(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent()["id"]
    readers = {
        "dpo": world.case_system.bearer(client, user_id=world.dpo),
        "operator_dpo": world.operator_client.bearer(client, user_id=world.operator_dpo),
        "jobcenter_staff": desk.staff,
    }
    for who, headers in readers.items():
        as_json = client.get(f"/v1/consents/{consent}/receipt", headers=headers)
        assert as_json.status_code == 200, (who, as_json.text)
        assert "self_service_code" not in as_json.json(), who
        assert "self_service_url" not in as_json.json(), who
        assert "self-service" not in as_json.text, who
        printable = client.get(
            f"/v1/consents/{consent}/receipt", headers={**headers, "Accept": "text/html"}
        )
        assert printable.status_code == 200, who
        assert "/self-service/" not in printable.text, who

    mine = client.get(f"/v1/consents/{consent}/receipt", headers=desk.manager).json()
    code = mine["self_service_code"]
    assert mine["self_service_url"].endswith(code)
    # The signed receipt itself never carries the code, for anyone.
    assert code not in mine["jws"]
    assert "self_service" not in str(mine["receipt"])


def test_every_receipt_read_is_audited_with_the_deciding_rules(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent()["id"]
    client.get(f"/v1/consents/{consent}/receipt", headers=desk.staff)
    client.get(f"/v1/consents/{consent}/receipt", headers={**desk.manager, "Accept": "text/html"})
    reads = _events(client, world, consent=consent, type="consent.receipt_read")
    assert [(e["actor"]["user"], e["details"]) for e in reads] == [
        (world.staff, {"form": "jws", "self_service_code_shown": False}),
        (world.manager, {"form": "printable", "self_service_code_shown": True}),
    ]
    assert reads[0]["policies"] == ["consent_records.jobcenter_staff"]
    assert reads[1]["policies"] == [
        "consent_records.integration_manager",
        "self_service_code.recording_organisation",
    ]


def test_a_withdrawal_by_code_is_recorded_as_the_persons_by_code(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent()["id"]
    code = client.get(f"/v1/consents/{consent}/receipt", headers=desk.manager).json()[
        "self_service_code"
    ]
    # The code alone suffices (GDPR Art. 7(3)); docs/security.md says why.
    withdrawn = client.post(f"/v1/self-service/{code}/revoke")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    [event] = _events(client, world, consent=consent, type="consent.revoked")
    assert event["actor"] == {"kind": "person", "via": "self_service_code"}
    assert event["details"]["channel"] == "self_service"
    assert event["details"]["declared_via"] == "self_service_code"
    assert event["policies"] == ["self_service.own_consent"]


def test_no_event_has_an_empty_actor(client: TestClient, world: World) -> None:
    desk = Desk(client, world)
    consent = desk.consent(evidence={"channel": "own_phone"})
    token = consent["confirmation_url"].rsplit("/", 1)[1]
    assert client.post(f"/v1/confirmations/{token}").status_code == 200
    events = _events(client, world)
    assert events
    assert all(event["actor"] for event in events), [e for e in events if not e["actor"]]
    [confirmed] = [e for e in events if e["type"] == "consent.confirmed"]
    assert confirmed["actor"] == {"kind": "person", "via": "confirmation_link"}
