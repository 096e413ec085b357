"""Issue 15, finding 3: the statutory question went to any jobcenter.

The registering organisation chose the person's municipality key freely, and
``jobcenter_responsibility`` (§ 50 SGB II, no consent) then sent the person's
name, birth date and customer number to whichever jobcenter routing names for
that key. Now a key must lie in the registering organisation's area, and a
statutory question about a person whose key lies outside the asker's area is
refused (for persons registered before keys were checked).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations import service as organisations
from gateway.organisations.models import OrganisationKind
from gateway.queries.models import Query
from gateway.subjects.models import Subject
from tests.support import PERSON, Desk, World

HEILBRONN = "08121000"  # routing.yaml: the Jobcenter Stadt Heilbronn (JC-08121), not ours


@pytest.fixture
def heilbronn_jobcenter(container: Container) -> str:
    with unit_of_work(container.engine) as session:
        return organisations.add_organisation(
            session,
            audit=container.audit,
            kind=OrganisationKind.JOBCENTER,
            name="Jobcenter Stadt Heilbronn",
            official_key="JC-08121",
        ).id


def _ask(desk: Desk, subject: str) -> Any:
    return desk.client.post(
        "/v1/queries",
        json={
            "subject_id": subject,
            "question": "jobcenter_responsibility",
            "purpose": "benefit_coordination",
        },
        headers={**desk.manager, "Idempotency-Key": f"statute-{subject}"},
    )


def _queries_to(container: Container, organisation_id: str) -> list[Query]:
    with Session(container.engine) as session:
        return list(
            session.exec(select(Query).where(Query.answerer_org_id == organisation_id)).all()
        )


def test_a_municipality_cannot_give_a_person_another_areas_key(
    client: TestClient, world: World, container: Container, heilbronn_jobcenter: str
) -> None:
    desk = Desk(client, world)
    body = {**PERSON, "given_name": "Leyla", "family_name": "Kaya", "municipality_key": HEILBRONN}

    refused = client.post("/v1/subjects", json=body, headers=desk.manager)

    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/municipality-outside-area"
    with Session(container.engine) as session:
        keys = session.exec(select(Subject.municipality_key)).all()
    assert HEILBRONN not in keys
    assert _queries_to(container, heilbronn_jobcenter) == []


def test_a_person_registered_outside_the_area_before_is_not_asked_about(
    client: TestClient, world: World, container: Container, heilbronn_jobcenter: str
) -> None:
    desk = Desk(client, world)
    with unit_of_work(container.engine) as session:  # as the old code let it be registered
        subject = session.get(Subject, desk.subject)
        assert subject is not None
        subject.municipality_key = HEILBRONN
        session.add(subject)

    asked = _ask(desk, desk.subject)

    assert asked.status_code == 403, asked.text
    assert asked.json()["type"] == "/problems/municipality-outside-area"
    assert _queries_to(container, heilbronn_jobcenter) == []


def test_the_own_areas_jobcenter_is_still_asked(client: TestClient, world: World) -> None:
    desk = Desk(client, world)
    body = {**PERSON, "given_name": "Leyla", "family_name": "Kaya", "municipality_key": "08125013"}
    subject = client.post("/v1/subjects", json=body, headers=desk.manager).json()["id"]
    asked = _ask(desk, subject)
    assert asked.status_code == 201, asked.text
    assert asked.json()["answerer_organisation_id"] == world.jobcenter
