"""What data protection officers see: their organisation's events, filtered; operators see all."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.audit.service import Actor, AuditEvent
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from tests.support import Desk, World


def _seed(container: Container, world: World) -> None:
    with unit_of_work(container.engine) as session:
        for org, subject, kind in (
            (world.municipality, "sub_a", "query.asked"),
            (world.municipality, "sub_b", "query.denied"),
            (world.other_municipality, "sub_c", "query.asked"),
        ):
            container.audit.record(
                session,
                AuditEvent(
                    type=kind,
                    actor=Actor(organisation_id=org, user_id="usr_x"),
                    subject_id=subject,
                    purpose="benefit_coordination",
                    decision="deny" if kind == "query.denied" else "permit",
                ),
            )


def test_a_dpo_sees_only_their_organisations_events(
    client: TestClient, container: Container, world: World
) -> None:
    _seed(container, world)
    headers = world.case_system.bearer(client, user_id=world.dpo)
    items = client.get("/v1/audit/events", params={"type": "query.asked"}, headers=headers).json()[
        "items"
    ]
    assert [item["event"]["subject"] for item in items] == ["sub_a"]
    other = client.get(
        "/v1/audit/events", params={"organisation": world.other_municipality}, headers=headers
    ).json()
    assert other["items"] == []


def test_filters_combine(client: TestClient, container: Container, world: World) -> None:
    _seed(container, world)
    headers = world.case_system.bearer(client, user_id=world.dpo)
    denied = client.get("/v1/audit/events", params={"decision": "deny"}, headers=headers).json()[
        "items"
    ]
    assert [item["event"]["subject"] for item in denied] == ["sub_b"]
    by_subject = client.get(
        "/v1/audit/events",
        params={"subject": "sub_a", "purpose": "benefit_coordination"},
        headers=headers,
    ).json()["items"]
    assert len(by_subject) == 1
    future = client.get(
        "/v1/audit/events", params={"since": "2999-01-01T00:00:00Z"}, headers=headers
    ).json()["items"]
    assert future == []


def test_an_operator_dpo_sees_every_organisation(
    client: TestClient, container: Container, world: World
) -> None:
    _seed(container, world)
    headers = world.operator_client.bearer(client, user_id=world.operator_dpo)
    items = client.get("/v1/audit/events", params={"type": "query.asked"}, headers=headers).json()[
        "items"
    ]
    assert sorted(item["event"]["subject"] for item in items) == ["sub_a", "sub_c"]


def test_audit_read_scope_is_required(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    response = client.get("/v1/audit/events", headers=headers)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/insufficient-scope"
    assert client.get("/v1/audit/events").status_code == 401


def test_a_dpo_sees_the_gateways_own_events_about_their_consents(
    client: TestClient, container: Container, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent()
    with unit_of_work(container.engine) as session:
        for consent_id in (consent["id"], "con_of_someone_else"):
            container.audit.record(
                session,
                AuditEvent(type="query.answer_deleted", consent_id=consent_id, subject_id="sub_x"),
            )
    own = world.case_system.bearer(client, user_id=world.dpo)
    seen = client.get(
        "/v1/audit/events", params={"type": "query.answer_deleted"}, headers=own
    ).json()["items"]
    assert [item["event"]["consent"] for item in seen] == [consent["id"]]

    other = world.other_case_system.bearer(client, user_id=world.other_dpo)
    assert (
        client.get(
            "/v1/audit/events", params={"type": "query.answer_deleted"}, headers=other
        ).json()["items"]
        == []
    )
    # Events the other party to the consent did stay theirs.
    answered_by_jobcenter = client.get(
        "/v1/audit/events", params={"organisation": world.jobcenter}, headers=own
    ).json()["items"]
    assert answered_by_jobcenter == []
