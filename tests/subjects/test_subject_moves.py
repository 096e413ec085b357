"""``PATCH /v1/subjects/{id}``: only an organisation that knows the person records a move."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.subjects.models import Subject
from tests.support import Desk, World


def _key(container: Container, subject_id: str) -> str | None:
    with Session(container.engine) as session:
        subject = session.get(Subject, subject_id)
        assert subject is not None
        return subject.municipality_key


def test_strangers_cannot_move_a_person(
    client: TestClient, world: World, container: Container
) -> None:
    desk = Desk(client, world)
    for headers in world.strangers(client):
        response = client.patch(
            f"/v1/subjects/{desk.subject}", json={"municipality_key": "08121000"}, headers=headers
        )
        assert response.status_code == 404
        assert response.json()["type"] == "/problems/subject-not-found"
    assert _key(container, desk.subject) is None


def test_the_jobcenter_of_a_consent_may_record_a_move(
    client: TestClient, world: World, container: Container
) -> None:
    desk = Desk(client, world)
    before = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": "08125013"}, headers=desk.staff
    )
    assert before.status_code == 404, "no consent names the jobcenter yet"
    desk.consent()
    after = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": "08125013"}, headers=desk.staff
    )
    assert after.status_code == 200
    assert _key(container, desk.subject) == "08125013"


def test_bad_keys_and_unknown_persons_are_problems(client: TestClient, world: World) -> None:
    desk = Desk(client, world)
    for body in ({"municipality_key": "8125013"}, {}, {"municipality_key": "08125013", "x": 1}):
        response = client.patch(f"/v1/subjects/{desk.subject}", json=body, headers=desk.manager)
        assert response.status_code == 422
    missing = client.patch(
        "/v1/subjects/sub_unknown", json={"municipality_key": "08125013"}, headers=desk.manager
    )
    assert missing.status_code == 404
    read_only = world.case_system.bearer(client, user_id=world.manager, scope="consents:read")
    refused = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": "08125013"}, headers=read_only
    )
    assert refused.status_code == 403
