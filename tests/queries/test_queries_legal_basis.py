"""Questions a statute allows: decided without consent, never recorded as consent-based,
and their audit events name the paragraph. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import PERSON, Desk, World

STATUTE = {"kind": "statute", "citation": "§ 50 Abs. 1 SGB II"}
BRACKENHEIM = "08125013"  # routing.yaml: the Jobcenter Landkreis Heilbronn is responsible


@pytest.fixture
def desk(client: TestClient, world: World) -> Desk:
    return Desk(client, world)


def _person_in(desk: Desk, municipality_key: str | None) -> str:
    body: dict[str, Any] = {**PERSON, "given_name": "Leyla", "family_name": "Kaya"}
    if municipality_key is not None:
        body["municipality_key"] = municipality_key
    response = desk.client.post("/v1/subjects", json=body, headers=desk.manager)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _ask(desk: Desk, subject: str, headers: dict[str, str], key: str) -> Any:
    return desk.client.post(
        "/v1/queries",
        json={
            "subject_id": subject,
            "question": "jobcenter_responsibility",
            "purpose": "benefit_coordination",
        },
        headers={**headers, "Idempotency-Key": key},
    )


def _audit(
    desk: Desk, event_type: str, *, dpo: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    dpo = dpo or desk.world.case_system.bearer(desk.client, user_id=desk.world.dpo)
    response = desk.client.get("/v1/audit/events", params={"type": event_type}, headers=dpo)
    assert response.status_code == 200, response.text
    return [item["event"] for item in response.json()["items"]]


def test_a_statutory_question_runs_without_consent_to_the_responsible_jobcenter(
    desk: Desk, world: World
) -> None:
    subject = _person_in(desk, BRACKENHEIM)
    asked = _ask(desk, subject, desk.manager, "statute-1")
    assert asked.status_code == 201, asked.text
    query = asked.json()
    assert query["consent_id"] is None
    assert "consent" not in query
    assert query["answerer_organisation_id"] == world.jobcenter
    assert query["status"] == "routed"

    [event] = _audit(desk, "query.asked")
    assert event.get("consent") is None
    assert event["decision"] == "permit"
    assert event["details"]["legal_basis"] == STATUTE

    inbox = desk.client.get("/v1/queries", params={"status": "open"}, headers=desk.staff).json()
    assert [item["id"] for item in inbox["items"]] == [query["id"]]
    answered = desk.client.post(
        f"/v1/queries/{query['id']}/answer",
        json={"answer": {"responsible": True, "team": "Team Integration 2"}},
        headers=desk.staff,
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["dropped_fields"] == []
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["answer"] == {"responsible": True, "team": "Team Integration 2"}

    # Another jobcenter neither sees nor answers it.
    other_staff = world.other_jobcenter_system.bearer(desk.client, user_id=world.other_staff)
    assert desk.client.get(f"/v1/queries/{query['id']}", headers=other_staff).status_code == 404


def test_it_is_not_recorded_as_consent_based_even_when_a_consent_exists(desk: Desk) -> None:
    subject = _person_in(desk, BRACKENHEIM)
    desk.subject = subject
    desk.consent(
        categories=["benefit_status", "assigned_contact"], purposes=["benefit_coordination"]
    )
    query = _ask(desk, subject, desk.manager, "statute-2").json()
    assert query["consent_id"] is None
    [event] = _audit(desk, "query.asked")
    assert event.get("consent") is None
    assert event["details"]["legal_basis"] == STATUTE

    # The consent-based question about the same person names its basis, too.
    consent_based = desk.ask("assigned_contact", "benefit_coordination")
    assert consent_based.status_code == 201, consent_based.text
    events = _audit(desk, "query.asked")
    assert [e["details"]["legal_basis"] for e in events] == [STATUTE, {"kind": "consent"}]
    assert events[1]["consent"] == consent_based.json()["consent_id"]


def test_only_the_organisation_that_registered_the_person_may_ask(desk: Desk, world: World) -> None:
    subject = _person_in(desk, BRACKENHEIM)
    stranger = world.other_case_system.bearer(desk.client, user_id=world.other_manager)
    denied = _ask(desk, subject, stranger, "statute-3")
    assert denied.status_code == 403
    assert [r["code"] for r in denied.json()["reasons"]] == ["not_own_case"]
    other_dpo = world.other_case_system.bearer(desk.client, user_id=world.other_dpo)
    [event] = _audit(desk, "query.denied", dpo=other_dpo)
    assert event["details"]["legal_basis"] == STATUTE
    assert event["reasons"] == ["not_own_case"]


def test_without_a_responsible_jobcenter_nothing_is_asked(desk: Desk) -> None:
    subject = _person_in(desk, None)
    denied = _ask(desk, subject, desk.manager, "statute-4")
    assert denied.status_code == 403
    assert [r["code"] for r in denied.json()["reasons"]] == ["no_responsible_jobcenter"]
    [event] = _audit(desk, "query.denied")
    assert event["details"]["legal_basis"] == STATUTE
    assert event["reasons"] == ["no_responsible_jobcenter"]


def test_the_catalogue_names_each_questions_legal_basis(desk: Desk) -> None:
    catalogue = desk.client.get("/v1/catalogue", headers=desk.manager).json()
    bases = {q["id"]: q["legal_basis"] for q in catalogue["questions"]}
    assert bases["jobcenter_responsibility"] == STATUTE
    assert bases["benefit_status"] == {"kind": "consent"}
