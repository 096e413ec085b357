"""Routed queries end to end through the API with the inbox adapter, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from adapters.base import (
    AdapterHealth,
    AdapterUnavailable,
    DeliveredQuery,
    Delivery,
    DeliveryOutcome,
)
from adapters.registry import AdapterRegistry
from gateway.audit.models import AuditEventRow
from gateway.bootstrap import Container
from gateway.clock import as_utc, utcnow
from gateway.consents.models import Consent, ConsentStatus
from gateway.database import unit_of_work
from gateway.queries.models import Query
from tests.support import Desk, World

BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}
MEASURES_ANSWER = {
    "current_measures": [{"title": "Berufssprachkurs B2"}],
    "planned_measures": [],
    "course_obligation": {"obliged": True, "course": "job_related_language_course"},
    "health_restrictions": "no heavy lifting",
}


def _events(container: Container, kind: str) -> int:
    with Session(container.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(AuditEventRow)
                .where(AuditEventRow.event_type == kind)
            ).one()
        )


@pytest.fixture
def desk(client: TestClient, world: World) -> Desk:
    return Desk(client, world)


def test_ask_route_answer_and_read(desk: Desk, container: Container) -> None:
    desk.consent()
    asked = desk.ask("benefit_status", "benefit_coordination", note="Termin am Montag?")
    assert asked.status_code == 201, asked.text
    query = asked.json()
    assert query["status"] == "routed"
    assert query["adapter"] == "inbox"

    inbox = desk.client.get("/v1/queries", params={"status": "open"}, headers=desk.staff).json()
    assert [item["id"] for item in inbox["items"]] == [query["id"]]
    assert inbox["items"][0]["consent"]["purposes"]
    assert inbox["items"][0]["deadline"]

    seen = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.staff).json()
    assert seen["person"]["family_name"] == "Demir"
    assert seen["note"] == "Termin am Montag?"
    assert seen["answer_schema"]["type"] == "object"

    invalid = desk.client.post(
        f"/v1/queries/{query['id']}/answer",
        json={"answer": {"receives_benefit": "yes"}},
        headers=desk.staff,
    )
    assert invalid.status_code == 422
    assert invalid.json()["type"] == "/problems/invalid-answer"

    answered = desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered"

    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["answer"] == BENEFIT_ANSWER
    assert "person" not in read
    for kind in ("query.asked", "query.routed", "query.answered", "query.delivered"):
        assert _events(container, kind) == 1, kind


def test_idempotency(desk: Desk) -> None:
    desk.consent()
    first = desk.ask("benefit_status", "benefit_coordination", key="same-key")
    again = desk.ask("benefit_status", "benefit_coordination", key="same-key")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    different = desk.ask("benefit_status", "benefit_coordination", key="same-key", note="other")
    assert different.status_code == 409
    assert different.json()["type"] == "/problems/idempotency-key-reused"
    missing = desk.client.post(
        "/v1/queries",
        json={
            "subject_id": desk.subject,
            "question": "benefit_status",
            "purpose": "benefit_coordination",
        },
        headers=desk.manager,
    )
    assert missing.status_code == 400
    assert missing.json()["type"] == "/problems/idempotency-key-required"


def test_denials_name_their_reason_and_are_audited(desk: Desk, container: Container) -> None:
    no_consent = desk.ask("benefit_status", "benefit_coordination")
    assert no_consent.status_code == 403
    assert no_consent.headers["content-type"] == "application/problem+json"
    assert [r["code"] for r in no_consent.json()["reasons"]] == ["no_consent"]

    desk.consent()
    outside = desk.ask("upcoming_appointments", "appointment_coordination")
    assert outside.status_code == 403
    codes = {r["code"] for r in outside.json()["reasons"]}
    assert "consent_purpose_not_covered" in codes
    assert _events(container, "query.denied") == 2
    with Session(container.engine) as session:
        denied = session.exec(select(Query).where(Query.status == "denied")).all()
        assert len(denied) == 2


def test_answers_are_reduced_to_the_consented_categories(desk: Desk) -> None:
    desk.consent()
    query = desk.ask("measures_and_course_obligation", "measures_and_courses").json()
    answered = desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": MEASURES_ANSWER}, headers=desk.staff
    ).json()
    assert answered["dropped_fields"] == ["/health_restrictions"]
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert "health_restrictions" not in read["answer"]
    assert read["answer"]["course_obligation"]["obliged"] is True


def test_revocation_cancels_open_queries_and_refuses_late_answers(
    desk: Desk, container: Container
) -> None:
    consent = desk.consent()
    query = desk.ask("benefit_status", "benefit_coordination").json()
    revoked = desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=desk.staff
    )
    assert revoked.status_code == 200
    assert (
        desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()["status"]
        == "cancelled"
    )
    late = desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/query-cancelled"
    assert _events(container, "query.answer_refused") == 1
    assert (
        "answer" not in desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    )


def test_revocation_stops_an_answer_not_yet_delivered(desk: Desk, container: Container) -> None:
    consent = desk.consent()
    query = desk.ask("benefit_status", "benefit_coordination").json()
    desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "in_person"}, headers=desk.manager
    )
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["status"] == "cancelled"
    assert "answer" not in read
    assert _events(container, "query.delivered") == 0


def test_the_other_direction(desk: Desk) -> None:
    desk.consent()
    asked = desk.ask("integration_plan_goals", "integration_planning", headers=desk.staff)
    assert asked.status_code == 201, asked.text
    query = asked.json()
    assert query["answerer_organisation_id"] == desk.world.municipality
    inbox = desk.client.get("/v1/queries", params={"status": "open"}, headers=desk.manager).json()
    assert [item["id"] for item in inbox["items"]] == [query["id"]]
    answer = {
        "plan_updated_on": "2026-10-01",
        "goals": [{"goal": "B1 certificate", "status": "in_progress", "due_on": "2027-01-31"}],
    }
    done = desk.client.post(
        f"/v1/queries/{query['id']}/answer", json={"answer": answer}, headers=desk.manager
    )
    assert done.status_code == 200, done.text


def test_strangers_see_nothing_and_change_nothing(
    desk: Desk, client: TestClient, world: World, container: Container
) -> None:
    desk.consent()
    query = desk.ask("benefit_status", "benefit_coordination").json()
    for headers in world.strangers(client):
        assert client.get(f"/v1/queries/{query['id']}", headers=headers).status_code == 404
        answered = client.post(
            f"/v1/queries/{query['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=headers
        )
        assert answered.status_code == 404
        assert client.post(f"/v1/queries/{query['id']}/cancel", headers=headers).status_code == 404
        assert client.get("/v1/queries", headers=headers).json()["items"] == []
        assert (
            client.get("/v1/queries", params={"status": "open"}, headers=headers).json()["items"]
            == []
        )
    assert (
        client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()["status"] == "routed"
    )


def test_deadline_expiry_and_retention(desk: Desk, container: Container) -> None:
    desk.consent()
    open_query = desk.ask("benefit_status", "benefit_coordination").json()
    answered = desk.ask("benefit_status", "benefit_coordination").json()
    desk.client.post(
        f"/v1/queries/{answered['id']}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    with unit_of_work(container.engine) as session:
        row = session.get(Query, open_query["id"])
        assert row is not None
        row.deadline = utcnow() - timedelta(minutes=1)
        done = session.get(Query, answered["id"])
        assert done is not None
        done.retention_until = utcnow() - timedelta(minutes=1)
    container.queries.tick(container.engine)
    assert (
        desk.client.get(f"/v1/queries/{open_query['id']}", headers=desk.manager).json()["status"]
        == "expired"
    )
    after = desk.client.get(f"/v1/queries/{answered['id']}", headers=desk.manager).json()
    assert after["status"] == "answered"
    assert "answer" not in after
    assert _events(container, "query.answer_deleted") == 1


class FlakyAdapter:
    """A fake jobcenter system: unavailable ``failures`` times, then accepting."""

    kind = "rest"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.deliveries: list[DeliveredQuery] = []

    def deliver(self, query: DeliveredQuery) -> Delivery:
        self.deliveries.append(query)
        if len(self.deliveries) <= self.failures:
            raise AdapterUnavailable("HTTP 503")
        return Delivery(outcome=DeliveryOutcome.ANSWERED, answer=BENEFIT_ANSWER)

    def fetch_answer(self, query_id: str) -> dict[str, Any] | None:
        return None

    def health(self) -> AdapterHealth:
        return AdapterHealth(ok=True)


def test_failed_deliveries_are_retried_by_the_scheduler(desk: Desk, container: Container) -> None:
    desk.consent()
    flaky = FlakyAdapter(failures=1)
    container.queries.adapters = AdapterRegistry({"JC-08125": flaky})
    container.queries.retry_base = timedelta(0)
    query = desk.ask("benefit_status", "benefit_coordination").json()
    assert query["status"] == "received"
    assert flaky.deliveries[0].person.family_name == "Demir"
    container.queries.tick(container.engine)
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["status"] == "answered"
    assert read["answer"] == BENEFIT_ANSWER
    assert len({d.query_id for d in flaky.deliveries}) == 1, "one idempotency key for every attempt"


def test_an_ask_claims_its_first_delivery_so_a_crash_before_it_is_retried_once(
    desk: Desk, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.consent()
    adapter = FlakyAdapter(failures=0)
    container.queries.adapters = AdapterRegistry({"JC-08125": adapter})
    route = container.queries.route
    # The process dies between the ask's commit and the delivery.
    monkeypatch.setattr(container.queries, "route", lambda *args, **kwargs: None)
    asked_at = utcnow()
    query = desk.ask("benefit_status", "benefit_coordination").json()
    monkeypatch.setattr(container.queries, "route", route)
    with Session(container.engine) as session:
        stored = session.get(Query, query["id"])
        assert stored is not None
        assert stored.attempts == 1
        assert stored.next_attempt_at is not None
        assert as_utc(stored.next_attempt_at) >= asked_at + container.queries.retry_base

    container.queries.tick(container.engine)  # the claimed attempt is not due yet
    assert adapter.deliveries == []
    with unit_of_work(container.engine) as session:
        stored = session.get(Query, query["id"])
        assert stored is not None
        stored.next_attempt_at = utcnow() - timedelta(seconds=1)
    container.queries.tick(container.engine)
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["status"] == "answered"
    assert [delivered.query_id for delivered in adapter.deliveries] == [query["id"]]


def test_a_query_whose_consent_ended_before_its_delivery_is_cancelled_at_once(
    desk: Desk, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    consent = desk.consent()
    adapter = FlakyAdapter(failures=0)
    container.queries.adapters = AdapterRegistry({"JC-08125": adapter})
    route = container.queries.route
    monkeypatch.setattr(container.queries, "route", lambda *args, **kwargs: None)
    query = desk.ask("benefit_status", "benefit_coordination").json()
    monkeypatch.setattr(container.queries, "route", route)
    with unit_of_work(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        row.status = ConsentStatus.SUPERSEDED  # amended between the ask and its delivery
        session.add(row)

    container.queries.route(container.engine, query["id"], claimed=True)
    read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
    assert read["status"] == "cancelled"
    assert adapter.deliveries == []


def test_a_delivery_that_keeps_failing_ends_failed(desk: Desk, container: Container) -> None:
    desk.consent()
    flaky = FlakyAdapter(failures=100)
    container.queries.adapters = AdapterRegistry({"JC-08125": flaky})
    container.queries.retry_base = timedelta(days=30)  # the next try would be past the deadline
    query = desk.ask("benefit_status", "benefit_coordination").json()
    assert (
        desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()["status"]
        == "failed"
    )
    assert _events(container, "query.failed") == 1
