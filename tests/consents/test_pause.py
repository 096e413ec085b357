"""Pausing and resuming a consent: nothing flows while paused; the parties pause by hand, and a
change of the responsible jobcenter pauses automatically and tells the old jobcenter."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.webhooks.models import OutboxMessage
from tests.consents.conftest import EventsOf
from tests.support import Desk, World

BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}
JOBCENTER_HOOK = "https://jobcenter.example/hooks"
# routing.yaml: Brackenheim and Lauffen (district 08125) belong to JC-08125, the test world's
# jobcenter; the city of Heilbronn to JC-08121.
BRACKENHEIM, LAUFFEN, HEILBRONN = "08125013", "08125056", "08121000"


def _post(desk: Desk, consent_id: str, action: str, headers: dict[str, str], **body: Any) -> Any:
    return desk.client.post(f"/v1/consents/{consent_id}/{action}", json=body, headers=headers)


def _move(desk: Desk, key: str, headers: dict[str, str] | None = None) -> Any:
    return desk.client.patch(
        f"/v1/subjects/{desk.subject}",
        json={"municipality_key": key},
        headers=headers or desk.manager,
    )


@pytest.mark.parametrize(
    ("side", "code"), [("manager", "paused_by_municipality"), ("staff", "paused_by_jobcenter")]
)
def test_pause_and_resume(desk: Desk, events_of: EventsOf, side: str, code: str) -> None:
    consent = desk.consent()
    headers = desk.manager if side == "manager" else desk.staff
    paused = _post(desk, consent["id"], "pause", headers, reason="Klärung der Zuständigkeit")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["status_reason"] == {"code": code, "text": "Klärung der Zuständigkeit"}
    assert "ended_at" not in paused.json()
    event = events_of("consent.paused")[-1]
    assert event["details"] == {"status": "paused", "status_reason": code}
    assert event["hashes"]["reason"].startswith("sha256:")

    resumed = _post(desk, consent["id"], "resume", headers, reason="geklärt")
    assert resumed.json()["status"] == "active"
    assert resumed.json()["status_reason"] == {"code": "resumed", "text": "geklärt"}
    assert events_of("consent.resumed")[-1]["details"] == {
        "status": "active",
        "status_reason": "resumed",
    }
    assert desk.ask("benefit_status", "benefit_coordination").status_code == 201


def test_a_paused_consent_permits_nothing(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent()
    open_query = desk.ask("benefit_status", "benefit_coordination").json()
    theirs = desk.ask("integration_plan_goals", "integration_planning", headers=desk.staff).json()
    assert _post(desk, consent["id"], "pause", desk.manager, reason="x").status_code == 200

    for query in (open_query, theirs):
        read = desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
        assert read["status"] == "cancelled"
    assert {tuple(e["reasons"]) for e in events_of("query.cancelled")} == {("consent_paused",)}
    late = desk.client.post(
        f"/v1/queries/{open_query['id']}/answer",
        json={"answer": BENEFIT_ANSWER},
        headers=desk.staff,
    )
    assert late.status_code == 409
    for asked in (
        desk.ask("benefit_status", "benefit_coordination"),
        desk.ask("integration_plan_goals", "integration_planning", headers=desk.staff),
    ):
        assert asked.status_code == 403
        assert [r["code"] for r in asked.json()["reasons"]] == ["consent_not_active"]
    assert events_of("query.denied")[-1]["reasons"] == ["consent_not_active"]


@pytest.mark.parametrize("channel", ["phone", "case_system"])
def test_a_paused_consent_can_still_be_ended(desk: Desk, channel: str) -> None:
    consent = desk.consent()
    _post(desk, consent["id"], "pause", desk.manager, reason="x")
    ended = _post(desk, consent["id"], "revoke", desk.staff, channel=channel).json()
    assert ended["status"] == ("withdrawn" if channel == "phone" else "revoked")


def test_a_paused_consent_still_expires(desk: Desk, container: Container) -> None:
    consent = desk.consent(valid_until=date.today().isoformat())
    _post(desk, consent["id"], "pause", desk.manager, reason="x")
    with Session(container.engine) as session:
        assert container.consents.expire_due(session, now=utcnow() + timedelta(days=2)) == 1
        session.commit()
    read = desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.manager).json()
    assert read["status"] == "expired"


def test_wrong_transitions_are_conflicts(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent()
    not_paused = _post(desk, consent["id"], "resume", desk.manager, reason="x")
    assert not_paused.status_code == 409
    assert not_paused.json()["type"] == "/problems/consent-not-paused"
    assert not_paused.json()["consent_status"] == "active"
    _post(desk, consent["id"], "pause", desk.manager, reason="x")
    twice = _post(desk, consent["id"], "pause", desk.staff, reason="x")
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/consent-not-pausable"
    assert len(events_of("consent.paused")) == 1

    pending = desk.consent(evidence={"channel": "own_phone"})
    refused = _post(desk, pending["id"], "pause", desk.manager, reason="x")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/consent-not-pausable"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x", "extra": 1}])
def test_a_reason_is_required(desk: Desk, body: dict[str, Any]) -> None:
    consent = desk.consent()
    for action in ("pause", "resume"):
        response = _post(desk, consent["id"], action, desk.manager, **body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


def test_other_organisations_get_404_and_change_nothing(
    desk: Desk, client: TestClient, world: World, events_of: EventsOf
) -> None:
    consent = desk.consent()
    paused = desk.consent(purposes=["benefit_coordination"], categories=["benefit_status"])
    _post(desk, paused["id"], "pause", desk.manager, reason="x")
    for headers in world.strangers(client):
        for consent_id, action in ((consent["id"], "pause"), (paused["id"], "resume")):
            response = _post(desk, consent_id, action, headers, reason="x")
            assert response.status_code == 404, response.text
            assert response.json()["type"] == "/problems/consent-not-found"
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    assert _post(desk, consent["id"], "pause", dpo, reason="x").status_code == 403
    assert len(events_of("consent.paused")) == 1
    assert events_of("consent.resumed") == []
    for consent_id, status in ((consent["id"], "active"), (paused["id"], "paused")):
        read = desk.client.get(f"/v1/consents/{consent_id}", headers=desk.manager).json()
        assert read["status"] == status


# -- the responsible jobcenter changes -------------------------------------------------


def test_a_move_within_the_jobcenters_area_pauses_nothing(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent()
    first = _move(desk, BRACKENHEIM)
    assert first.json() == {
        "id": desk.subject,
        "municipality_key": BRACKENHEIM,
        "paused_consents": [],
    }
    assert _move(desk, LAUFFEN, headers=desk.staff).json()["paused_consents"] == []
    assert len(events_of("subject.moved")) == 2
    unchanged = _move(desk, LAUFFEN)
    assert unchanged.status_code == 200
    assert len(events_of("subject.moved")) == 2
    read = desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.manager).json()
    assert read["status"] == "active"


def test_a_new_jobcenter_pauses_the_consent_and_tells_the_old_one(
    desk: Desk, container: Container, events_of: EventsOf
) -> None:
    subscribed = desk.client.post(
        "/v1/webhooks",
        json={"url": JOBCENTER_HOOK, "event_types": ["consent.paused"]},
        headers=desk.staff,
    )
    assert subscribed.status_code == 201, subscribed.text
    secret = subscribed.json()["secret"]
    consent = desk.consent()
    pending = desk.consent(evidence={"channel": "own_phone"})
    _move(desk, BRACKENHEIM)
    query = desk.ask("benefit_status", "benefit_coordination").json()

    moved = _move(desk, HEILBRONN)
    assert moved.status_code == 200, moved.text
    assert moved.json()["paused_consents"] == [consent["id"]]
    read = desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.staff).json()
    assert read["status"] == "paused"
    assert read["status_reason"] == {
        "code": "paused_jobcenter_changed",
        "text": "Paused: another jobcenter is now responsible for the person.",
    }
    # Only an active consent is paused; one not yet confirmed stays as it is.
    assert (
        desk.client.get(f"/v1/consents/{pending['id']}", headers=desk.manager).json()["status"]
        == "pending"
    )
    event = events_of("consent.paused")[-1]
    assert event["details"] == {
        "status": "paused",
        "status_reason": "paused_jobcenter_changed",
        "responsible_jobcenter": "JC-08121",
    }
    assert (
        desk.client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()["status"]
        == "cancelled"
    )

    with Session(container.engine) as session:
        messages = session.exec(select(OutboxMessage)).all()
        assert [m.event_type for m in messages] == ["consent.paused"]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(JOBCENTER_HOOK).mock(return_value=httpx.Response(204))
        assert container.webhooks.deliver_due(container.engine).delivered == 1
    request = route.calls[0].request
    payload = Webhook(secret).verify(request.content, dict(request.headers))
    assert payload["type"] == "consent.paused"
    assert payload["data"] == {
        "consent_id": consent["id"],
        "version": 1,
        "status": "paused",
        "status_reason": "paused_jobcenter_changed",
        "subject_id": desk.subject,
    }

    # Resuming would let data flow to a jobcenter no longer responsible.
    refused = _post(desk, consent["id"], "resume", desk.manager, reason="x")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/consent-jobcenter-not-responsible"
    assert refused.json()["responsible_jobcenter"] == "JC-08121"
    # The person moves back: the consent may apply again.
    assert _move(desk, BRACKENHEIM).json()["paused_consents"] == []
    resumed = _post(desk, consent["id"], "resume", desk.manager, reason="zurückgezogen")
    assert resumed.json()["status"] == "active"


def test_a_municipality_routing_does_not_know_pauses_nothing(desk: Desk) -> None:
    consent = desk.consent()
    _move(desk, BRACKENHEIM)
    assert _move(desk, "09162000").json()["paused_consents"] == []
    read = desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.manager).json()
    assert read["status"] == "active"


def test_the_persons_report_names_the_pause_in_their_language(desk: Desk) -> None:
    consent = desk.consent(language="uk")
    _post(desk, consent["id"], "pause", desk.manager, reason="x")
    _post(desk, consent["id"], "resume", desk.manager, reason="y")
    code = desk.client.get(f"/v1/consents/{consent['id']}/receipt", headers=desk.manager).json()[
        "self_service_code"
    ]
    report = desk.client.get(f"/v1/self-service/{code}/report")
    assert report.status_code == 200, report.text
    actions = {e["event_type"]: e["action"] for e in report.json()["entries"]}
    assert actions["consent.paused"] == "Згоду призупинено: тим часом нічого не передається"
    assert actions["consent.resumed"] == "Згода знову діє"
