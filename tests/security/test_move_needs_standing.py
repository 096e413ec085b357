"""Issue 15, finding 2: any party to any consent about a person could move the person.

A second municipality found the person, recorded a self-declared paper consent
about them and declared a move: every active consent about the person was
paused, the first municipality's included, and the answer listed their ids.
Now only those with standing (rule ``person.move``: the registrar, the
municipality of the person's key, the jobcenter responsible for it) may move
a person; to anyone else the person does not exist and nothing changes; the
answer names only the paused consents the caller may read.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support import PERSON, Desk, World

BRACKENHEIM, HEILBRONN = "08125013", "08121000"  # JC-08125 and JC-08121 (routing.yaml)


def _consent(client: TestClient, world: World, subject: str, headers: dict[str, str]) -> str:
    body: dict[str, Any] = {
        "subject_id": subject,
        "jobcenter_id": world.jobcenter,
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_until": (date.today() + timedelta(days=180)).isoformat(),
        "language": "de",
        "evidence": {"channel": "paper_signature"},
    }
    response = client.post("/v1/consents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _status(client: TestClient, consent: str, headers: dict[str, str]) -> str:
    return str(client.get(f"/v1/consents/{consent}", headers=headers).json()["status"])


def _two_municipalities_one_person(
    client: TestClient, world: World
) -> tuple[Desk, dict[str, str], str, str]:
    desk = Desk(client, world)
    home = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": BRACKENHEIM}, headers=desk.manager
    )
    assert home.status_code == 200, home.text
    ours = _consent(client, world, desk.subject, desk.manager)
    lauffen = world.other_case_system.bearer(client, user_id=world.other_manager)
    found = client.post("/v1/subjects", json=PERSON, headers=lauffen)
    assert found.json()["id"] == desk.subject
    theirs = _consent(client, world, desk.subject, lauffen)
    return desk, lauffen, ours, theirs


def test_a_party_to_a_consent_cannot_move_the_person(client: TestClient, world: World) -> None:
    desk, lauffen, ours, theirs = _two_municipalities_one_person(client, world)
    other_staff = world.other_jobcenter_system.bearer(client, user_id=world.other_staff)

    for headers in (lauffen, other_staff):
        attack = client.patch(
            f"/v1/subjects/{desk.subject}", json={"municipality_key": HEILBRONN}, headers=headers
        )
        assert attack.status_code == 404, attack.text
        assert attack.json()["type"] == "/problems/subject-not-found"
    bare = client.patch(
        f"/v1/subjects/{desk.subject}",
        json={"municipality_key": HEILBRONN},
        headers=world.case_system.bearer(client),
    )
    assert bare.status_code == 403
    assert bare.json()["type"] == "/problems/user-required"

    assert _status(client, ours, desk.manager) == "active"
    assert _status(client, theirs, lauffen) == "active"
    asked = desk.ask("benefit_status", "benefit_coordination")
    assert asked.status_code == 201, asked.text
    assert asked.json()["answerer_organisation_id"] == world.jobcenter


def test_a_move_names_only_the_consents_the_mover_may_read(
    client: TestClient, world: World
) -> None:
    desk, lauffen, ours, theirs = _two_municipalities_one_person(client, world)

    moved = client.patch(
        f"/v1/subjects/{desk.subject}", json={"municipality_key": HEILBRONN}, headers=desk.manager
    )

    assert moved.status_code == 200, moved.text
    assert moved.json()["paused_consents"] == [ours]
    assert theirs not in moved.text
    # Both name a jobcenter no longer responsible: both are paused, each party told its own.
    assert _status(client, ours, desk.manager) == "paused"
    assert _status(client, theirs, lauffen) == "paused"
