"""``PATCH /v1/subjects/{id}``: only those with standing record a move (rule ``person.move``),
and only to a key of their area or away from it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.subjects.models import Subject
from tests.support import Desk, World

# routing.yaml: Brackenheim and Lauffen (district 08125) belong to JC-08125, the test world's
# jobcenter; the city of Heilbronn to JC-08121.
BRACKENHEIM, LAUFFEN, HEILBRONN = "08125013", "08125056", "08121000"


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


def test_the_responsible_jobcenter_may_record_a_move_a_consent_alone_is_not_enough(
    client: TestClient, world: World, container: Container
) -> None:
    desk = Desk(client, world)
    desk.consent()
    party_only = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": LAUFFEN}, headers=desk.staff
    )
    assert party_only.status_code == 404, "the person has no key: no jobcenter is responsible"
    own = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": BRACKENHEIM}, headers=desk.manager
    )
    assert own.status_code == 200, own.text
    after = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": LAUFFEN}, headers=desk.staff
    )
    assert after.status_code == 200, after.text
    assert _key(container, desk.subject) == LAUFFEN


def test_a_move_goes_to_a_key_of_the_movers_area_or_away_from_it(
    client: TestClient, world: World, container: Container
) -> None:
    desk = Desk(client, world)
    elsewhere = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": HEILBRONN}, headers=desk.manager
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["type"] == "/problems/municipality-outside-area"
    assert _key(container, desk.subject) is None
    home = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": BRACKENHEIM}, headers=desk.manager
    )
    assert home.status_code == 200
    # The person left Brackenheim for Heilbronn: Brackenheim may say so.
    away = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": HEILBRONN}, headers=desk.manager
    )
    assert away.status_code == 200, away.text
    # Now neither the old nor the new key is Brackenheim's: only back home.
    again = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": LAUFFEN}, headers=desk.manager
    )
    assert again.status_code == 422
    assert _key(container, desk.subject) == HEILBRONN


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
    bare = world.case_system.bearer(client)
    no_user = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": "08125013"}, headers=bare
    )
    assert no_user.status_code == 403
    assert no_user.json()["type"] == "/problems/user-required"
