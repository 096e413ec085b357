"""Every status change carries a machine-readable reason: on the consent, in the API, in the
audit event. Reasons someone wrote are sealed at rest and only hashed in the trail."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.consents.models import Consent
from tests.consents.conftest import EventsOf
from tests.support import Desk


def _read(desk: Desk, consent_id: str) -> dict[str, object]:
    response = desk.client.get(f"/v1/consents/{consent_id}", headers=desk.manager)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_granted_consent_says_why_it_is_active(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent()
    assert consent["status_reason"] == {"code": "granted", "text": "The person gave the consent."}
    assert consent["status_changed_at"]
    granted = events_of("consent.granted")[-1]
    assert granted["details"]["status"] == "active"
    assert granted["details"]["status_reason"] == "granted"
    listed = desk.client.get(
        "/v1/consents", params={"subject": desk.subject}, headers=desk.staff
    ).json()
    assert [item["status_reason"]["code"] for item in listed["items"]] == ["granted"]


def test_confirmation_on_the_persons_phone(desk: Desk, events_of: EventsOf) -> None:
    consent = desk.consent(evidence={"channel": "own_phone"})
    assert consent["status"] == "pending"
    assert consent["status_reason"]["code"] == "awaiting_confirmation"
    assert events_of("consent.requested")[-1]["details"]["status_reason"] == (
        "awaiting_confirmation"
    )
    token = consent["confirmation_url"].rsplit("/", 1)[1]
    assert desk.client.post(f"/v1/confirmations/{token}").status_code == 200
    assert _read(desk, consent["id"])["status_reason"] == {
        "code": "confirmed_by_person",
        "text": "The person confirmed the consent on their own phone.",
    }
    assert events_of("consent.confirmed")[-1]["details"]["status_reason"] == ("confirmed_by_person")


def test_an_amendment_and_the_version_it_replaces(desk: Desk, events_of: EventsOf) -> None:
    original = desk.consent()
    terms = {
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_until": (date.today() + timedelta(days=90)).isoformat(),
        "language": "de",
        "evidence": {"channel": "paper_signature"},
    }
    amended = desk.client.post(
        f"/v1/consents/{original['id']}/amend", json=terms, headers=desk.manager
    ).json()
    assert amended["status_reason"]["code"] == "amended"
    old = _read(desk, original["id"])
    assert old["status"] == "superseded"
    assert old["status_reason"] == {
        "code": "superseded_by_amendment",
        "text": "Replaced by a new version.",
    }
    superseded = events_of("consent.superseded")[-1]
    assert superseded["details"] == {
        "by": amended["id"],
        "status_reason": "superseded_by_amendment",
    }
    assert events_of("consent.amended")[-1]["details"]["status_reason"] == "amended"


def test_expiry_by_date(desk: Desk, container: Container, events_of: EventsOf) -> None:
    consent = desk.consent(valid_until=date.today().isoformat())
    with Session(container.engine) as session:
        assert container.consents.expire_due(session, now=utcnow() + timedelta(days=2)) == 1
        session.commit()
    read = _read(desk, consent["id"])
    assert read["status"] == "expired"
    assert read["status_reason"] == {
        "code": "expired_by_date",
        "text": "The consent reached the end of its validity.",
    }
    assert events_of("consent.expired")[-1]["details"]["status_reason"] == "expired_by_date"


def test_a_written_reason_is_shown_sealed_at_rest_and_hashed_in_the_trail(
    desk: Desk, container: Container, events_of: EventsOf
) -> None:
    consent = desk.consent()
    reason = "Frau D. zieht nach Stuttgart"
    revoked = desk.client.post(
        f"/v1/consents/{consent['id']}/revoke",
        json={"channel": "case_system", "reason": reason},
        headers=desk.manager,
    ).json()
    assert revoked["status_reason"] == {"code": "revoked_by_municipality", "text": reason}
    assert _read(desk, consent["id"])["status_reason"]["text"] == reason
    with Session(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        assert row.status_reason_sealed is not None
        assert reason not in row.status_reason_sealed
    event = events_of("consent.revoked")[-1]
    assert event["details"]["status_reason"] == "revoked_by_municipality"
    assert reason not in str(event)
    assert event["hashes"]["reason"] == "sha256:" + hashlib.sha256(reason.encode()).hexdigest()
