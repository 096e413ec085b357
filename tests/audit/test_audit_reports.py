"""Subject access reports (GDPR Art. 15) with proofs, and the anomaly report."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.audit.service import Actor, AuditEvent
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from tests.audit import independent
from tests.support import Desk, World

BENEFIT_ANSWER = {"receives_benefit": True}


@pytest.fixture
def story(client: TestClient, world: World) -> tuple[Desk, dict[str, str]]:
    desk = Desk(client, world)
    consent = desk.consent(language="uk")
    query = desk.ask("benefit_status", "benefit_coordination").json()
    client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    client.get(f"/v1/queries/{query['id']}", headers=desk.manager)
    return desk, consent


def test_dpo_report_lists_every_access_with_a_proof(
    client: TestClient, world: World, story: tuple[Desk, dict[str, str]]
) -> None:
    desk, _ = story
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    report = client.get(
        f"/v1/audit/subjects/{desk.subject}/report", params={"language": "uk"}, headers=dpo
    ).json()
    kinds = [entry["event_type"] for entry in report["entries"]]
    for kind in (
        "consent.granted",
        "query.asked",
        "query.routed",
        "query.answered",
        "query.delivered",
    ):
        assert kind in kinds
    assert report["language"] == "uk"
    checkpoint = report["checkpoint"]
    jwks = client.get("/.well-known/jwks.json").json()
    assert independent.verify_jws(checkpoint["jws"], jwks)["root_hash"] == checkpoint["root_hash"]
    for entry in report["entries"]:
        proof = entry["proof"]
        assert independent.verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["audit_path"]],
            bytes.fromhex(checkpoint["root_hash"]),
        )
    asked = next(e for e in report["entries"] if e["event_type"] == "query.asked")
    assert asked["organisation"] == "Stadt Brackenheim"
    assert asked["purpose"]
    assert asked["question"]
    assert "Demir" not in str(report)


def test_the_person_gets_the_report_with_their_code(
    client: TestClient, story: tuple[Desk, dict[str, str]]
) -> None:
    desk, consent = story
    code = client.get(f"/v1/consents/{consent['id']}/receipt", headers=desk.manager).json()[
        "self_service_code"
    ]
    report = client.get(f"/v1/self-service/{code}/report").json()
    assert report["language"] == "uk"
    assert any(entry["event_type"] == "query.answered" for entry in report["entries"])


def test_other_organisations_see_no_report(
    client: TestClient, world: World, story: tuple[Desk, dict[str, str]]
) -> None:
    desk, _ = story
    other = world.other_case_system.bearer(client, user_id=world.other_dpo)
    response = client.get(f"/v1/audit/subjects/{desk.subject}/report", headers=other)
    assert response.status_code == 404
    assert (
        client.get(f"/v1/audit/subjects/{desk.subject}/report", headers=desk.manager).status_code
        == 403
    )


def _asked(
    container: Container, *, organisation: str, user: str, count: int, denied: bool = False
) -> None:
    with unit_of_work(container.engine) as session:
        for index in range(count):
            container.audit.record(
                session,
                AuditEvent(
                    type="query.denied" if denied else "query.asked",
                    actor=Actor(organisation_id=organisation, user_id=user),
                    subject_id=f"sub_{user}_{index}",
                    decision="deny" if denied else "permit",
                ),
            )


def test_anomaly_report_flags_the_user_who_stands_out(
    client: TestClient, container: Container, world: World
) -> None:
    for user in ("usr_a", "usr_b", "usr_c"):
        _asked(container, organisation=world.municipality, user=user, count=4)
    _asked(container, organisation=world.municipality, user="usr_busy", count=40)
    _asked(container, organisation=world.municipality, user="usr_busy", count=6, denied=True)
    _asked(container, organisation=world.other_municipality, user="usr_elsewhere", count=60)
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    report = client.get("/v1/audit/anomalies", headers=dpo).json()
    flagged = {(f["user_id"], f["measure"]) for f in report["findings"]}
    assert ("usr_busy", "questions") in flagged
    assert ("usr_busy", "denied") in flagged
    assert ("usr_busy", "persons") in flagged
    assert not any(user == "usr_a" for user, _ in flagged)
    assert all(f["organisation_id"] == world.municipality for f in report["findings"])
    finding = next(f for f in report["findings"] if f["measure"] == "questions")
    events = client.get(finding["events"], headers=dpo).json()["items"]
    assert events
    assert {e["event"]["actor"]["user"] for e in events} == {"usr_busy"}
    operator = world.operator_client.bearer(client, user_id=world.operator_dpo)
    everything = client.get("/v1/audit/anomalies", headers=operator).json()
    assert ("usr_elsewhere", "questions") in {
        (f["user_id"], f["measure"]) for f in everything["findings"]
    }
