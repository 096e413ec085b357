"""How often a consent was used, per question type, derived from the queries under it; and
the consent's use limits enforced from the same count."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.queries.models import Query
from tests.consents.conftest import EventsOf
from tests.support import Desk


def _use(desk: Desk, consent_id: str) -> dict[str, dict[str, object]]:
    read = desk.client.get(f"/v1/consents/{consent_id}", headers=desk.manager)
    assert read.status_code == 200, read.text
    return dict(read.json()["use"])


def test_use_per_question_type(desk: Desk, container: Container) -> None:
    consent = desk.consent()
    assert _use(desk, consent["id"]) == {}
    for _ in range(2):
        assert desk.ask("benefit_status", "benefit_coordination").status_code == 201
    assert (
        desk.ask("integration_plan_goals", "integration_planning", headers=desk.staff).status_code
        == 201
    )
    with Session(container.engine) as session:
        last = max(
            q.created_at
            for q in session.exec(select(Query).where(Query.question == "benefit_status")).all()
        )
    use = _use(desk, consent["id"])
    assert set(use) == {"benefit_status", "integration_plan_goals"}
    assert use["benefit_status"]["count"] == 2
    assert use["integration_plan_goals"]["count"] == 1
    shown = datetime.fromisoformat(str(use["benefit_status"]["last_used_at"]))
    assert abs((shown - last.replace(tzinfo=shown.tzinfo)).total_seconds()) < 1
    listed = desk.client.get(
        "/v1/consents", params={"subject": desk.subject}, headers=desk.staff
    ).json()
    assert listed["items"][0]["use"] == use


def test_denied_queries_use_nothing(desk: Desk) -> None:
    consent = desk.consent()
    desk.client.post(
        f"/v1/consents/{consent['id']}/pause", json={"reason": "x"}, headers=desk.manager
    )
    assert desk.ask("benefit_status", "benefit_coordination").status_code == 403
    assert _use(desk, consent["id"]) == {}


def test_use_limits_are_enforced_from_the_count(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent(use_limits={"benefit_status": 2})
    assert _use(desk, consent["id"]) == {
        "benefit_status": {"count": 0},  # last_used_at is null, left out
    }
    for _ in range(2):
        assert desk.ask("benefit_status", "benefit_coordination").status_code == 201
    over = desk.ask("benefit_status", "benefit_coordination")
    assert over.status_code == 403
    assert [r["code"] for r in over.json()["reasons"]] == ["use_limit_exceeded"]
    assert events_of("query.denied")[-1]["reasons"] == ["use_limit_exceeded"]
    assert _use(desk, consent["id"])["benefit_status"]["count"] == 2
    # Other question types are not limited.
    assert desk.ask("measures_and_course_obligation", "measures_and_courses").status_code == 201


def test_a_cancelled_query_still_counts_as_use(desk: Desk) -> None:
    consent = desk.consent(use_limits={"benefit_status": 1})
    query = desk.ask("benefit_status", "benefit_coordination").json()
    cancelled = desk.client.post(f"/v1/queries/{query['id']}/cancel", headers=desk.manager)
    assert cancelled.status_code == 200, cancelled.text
    assert _use(desk, consent["id"])["benefit_status"]["count"] == 1
    assert desk.ask("benefit_status", "benefit_coordination").status_code == 403
