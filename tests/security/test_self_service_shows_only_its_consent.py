"""Finding 4: what a self-service code showed was not bounded by its consent.

The report behind a code listed other organisations' consents about the same
person (their ids, names and questions), and the web page showed every
organisation's questions a statute allows.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient

from tests.support import PERSON, Desk, World


def _code(client: TestClient, consent: str, headers: dict[str, str]) -> str:
    receipt = client.get(f"/v1/consents/{consent}/receipt", headers=headers)
    return str(receipt.json()["self_service_code"])


def test_a_code_shows_its_own_consent_only(client: TestClient, world: World) -> None:
    desk = Desk(client, world)
    mine = desk.consent()["id"]
    # Another municipality, same person, same jobcenter: a consent of its own.
    other = world.other_case_system.bearer(client, user_id=world.other_manager)
    subject = client.post("/v1/subjects", json=PERSON, headers=other).json()["id"]
    assert subject == desk.subject
    recorded = client.post(
        "/v1/consents",
        json={
            "subject_id": subject,
            "jobcenter_id": world.jobcenter,
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": (date.today() + timedelta(days=90)).isoformat(),
            "language": "de",
            "evidence": {"channel": "paper_signature"},
        },
        headers=other,
    )
    assert recorded.status_code == 201, recorded.text
    theirs = recorded.json()["id"]
    asked = client.post(
        "/v1/queries",
        json={
            "subject_id": subject,
            "question": "benefit_status",
            "purpose": "benefit_coordination",
        },
        headers={**other, "Idempotency-Key": "theirs-1"},
    )
    assert asked.status_code == 201, asked.text

    code = _code(client, mine, desk.manager)
    view = client.get(f"/v1/self-service/{code}").json()
    assert view["consent"]["id"] == mine
    assert "Lauffen" not in str(view)
    assert theirs not in str(view)

    report = client.get(f"/v1/self-service/{code}/report").json()
    assert report["entries"], report
    assert theirs not in str(report)
    assert "Lauffen" not in str(report)

    page = client.get(f"/self-service/{code}")
    assert page.status_code == 200
    assert "Lauffen" not in page.text

    # The other municipality's own code sees its consent, and not ours.
    their_view = client.get(f"/v1/self-service/{_code(client, theirs, other)}").json()
    assert their_view["consent"]["id"] == theirs
    assert mine not in str(their_view)
