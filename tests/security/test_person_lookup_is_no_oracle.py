"""Issue 15, finding 6: the person lookup was an unaudited oracle and merged different people.

``POST /v1/subjects`` answered 200 ("already known") to any organisation when
any other had registered the person, wrote no audit event for it, and merged
two people with the same name and birth date into one pseudonym, dropping the
second customer number. Now the answer depends only on the caller's own
organisation, every lookup is audited, and a conflicting customer number is
never merged.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import PERSON, World


def _events(client: TestClient, dpo: dict[str, str], event_type: str) -> list[dict[str, Any]]:
    response = client.get("/v1/audit/events", params={"type": event_type}, headers=dpo)
    assert response.status_code == 200, response.text
    return [item["event"] for item in response.json()["items"]]


def test_another_organisation_cannot_tell_whether_a_person_is_known(
    client: TestClient, world: World
) -> None:
    brackenheim = world.case_system.bearer(client, user_id=world.manager)
    lauffen = world.other_case_system.bearer(client, user_id=world.other_manager)
    assert client.post("/v1/subjects", json=PERSON, headers=brackenheim).status_code == 201
    unknown = {**PERSON, "given_name": "Nobody", "family_name": "Known"}

    known_elsewhere = client.post("/v1/subjects", json=PERSON, headers=lauffen)
    known_nowhere = client.post("/v1/subjects", json=unknown, headers=lauffen)

    assert known_elsewhere.status_code == known_nowhere.status_code == 201
    assert set(known_elsewhere.json()) == set(known_nowhere.json()) == {"id"}
    again = client.post("/v1/subjects", json=PERSON, headers=lauffen)
    assert again.status_code == 200
    assert again.json()["id"] == known_elsewhere.json()["id"]

    lauffen_dpo = world.other_case_system.bearer(client, user_id=world.other_dpo)
    found = _events(client, lauffen_dpo, "subject.found")
    assert [e["details"]["new_to_organisation"] for e in found] == [True, False]
    assert all(e["subject"] == again.json()["id"] for e in found)
    assert all(e["policies"] == ["person.register"] for e in found)
    registered = _events(client, lauffen_dpo, "subject.registered")
    assert [e["subject"] for e in registered] == [known_nowhere.json()["id"]]


def test_a_second_customer_number_is_never_merged(client: TestClient, world: World) -> None:
    brackenheim = world.case_system.bearer(client, user_id=world.manager)
    lauffen = world.other_case_system.bearer(client, user_id=world.other_manager)
    first = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "111A"}, headers=brackenheim
    )
    assert first.status_code == 201

    # Another organisation, another number: another person, and nothing said about the first.
    other = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "222B"}, headers=lauffen
    )
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    again = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "222B"}, headers=lauffen
    )
    assert (again.status_code, again.json()["id"]) == (200, other.json()["id"])

    # The organisation that registered the first person is told, with a way forward.
    conflict = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "333C"}, headers=brackenheim
    )
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "/problems/customer-number-conflict"
    assert '"another_person": true' in conflict.json()["detail"]
    second = client.post(
        "/v1/subjects",
        json={**PERSON, "jobcenter_customer_number": "333C", "another_person": True},
        headers=brackenheim,
    )
    assert second.status_code == 201
    assert second.json()["id"] not in {first.json()["id"], other.json()["id"]}
    found = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "333C"}, headers=brackenheim
    )
    assert (found.status_code, found.json()["id"]) == (200, second.json()["id"])
    original = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "111A"}, headers=brackenheim
    )
    assert (original.status_code, original.json()["id"]) == (200, first.json()["id"])
