"""Capacity: under the age of limits.yaml (15, § 36 SGB I) a legal representative consents,
named with their relation in the evidence; the name stays sealed. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.consents.models import Consent
from gateway.consents.service import age_on
from tests.consents.conftest import EventsOf
from tests.support import Desk

REPRESENTATIVE = {"name": "Samira Kaya", "relation": "parent"}


def _today() -> date:
    return datetime.now(ZoneInfo("Europe/Berlin")).date()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _child(desk: Desk, birth_date: date) -> str:
    person = {"given_name": "Elif", "family_name": "Kaya", "birth_date": birth_date.isoformat()}
    response = desk.client.post("/v1/subjects", json=person, headers=desk.manager)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def _record(desk: Desk, subject: str, **evidence: Any) -> Any:
    desk.subject = subject
    body = {
        "subject_id": subject,
        "jobcenter_id": desk.world.jobcenter,
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_until": (date.today() + timedelta(days=90)).isoformat(),
        "language": "de",
        "evidence": {"channel": "paper_signature", **evidence},
    }
    return desk.client.post("/v1/consents", json=body, headers=desk.manager)


@pytest.mark.parametrize(
    ("day", "born", "age"),
    [
        (date(2026, 11, 30), date(2011, 11, 30), 15),
        (date(2026, 11, 29), date(2011, 11, 30), 14),
        (date(2026, 2, 28), date(2012, 2, 29), 13),
        (date(2026, 3, 1), date(2012, 2, 29), 14),
        (date(2028, 2, 29), date(2012, 2, 29), 16),
    ],
)
def test_age_counts_whole_years_on_the_day(day: date, born: date, age: int) -> None:
    assert age_on(day, born=born) == age


def test_under_15_the_consent_needs_a_legal_representative(
    desk: Desk, container: Container
) -> None:
    before_birthday = _years_before(_today(), 15) + timedelta(days=1)
    subject = _child(desk, before_birthday)

    refused = _record(desk, subject)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "/problems/legal-representative-required"
    assert problem["capacity_age"] == 15
    with Session(container.engine) as session:
        assert session.exec(select(Consent).where(Consent.subject_id == subject)).all() == []

    incomplete = _record(desk, subject, legal_representative={"name": "Samira Kaya"})
    assert incomplete.status_code == 422

    recorded = _record(desk, subject, legal_representative=REPRESENTATIVE)
    assert recorded.status_code == 201, recorded.text
    consent = recorded.json()
    assert consent["given_by"] == {"role": "legal_representative", "relation": "parent"}
    assert "Samira" not in recorded.text
    again = desk.client.get(f"/v1/consents/{consent['id']}", headers=desk.staff).json()
    assert again["given_by"] == {"role": "legal_representative", "relation": "parent"}
    receipt = desk.client.get(
        f"/v1/consents/{consent['id']}/receipt",
        headers={**desk.manager, "Accept": "application/json"},
    ).json()
    assert receipt["receipt"]["given_by"] == {"role": "legal_representative", "relation": "parent"}
    printable = desk.client.get(
        f"/v1/consents/{consent['id']}/receipt", headers={**desk.manager, "Accept": "text/html"}
    ).text
    assert (
        "<dt>Erteilt von</dt>\n      <dd>Ihrer gesetzlichen Vertretung (Elternteil)</dd>"
        in printable
    )
    assert "Samira" not in printable

    # The name is kept, sealed: never in the clear in the database.
    with Session(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        assert row.evidence_sealed is not None
        assert "Samira" not in row.evidence_sealed
    assert container.consents.given_by(row) == {
        "role": "legal_representative",
        "relation": "parent",
    }


def test_from_the_15th_birthday_the_person_consents_alone(desk: Desk) -> None:
    subject = _child(desk, _years_before(_today(), 15))
    recorded = _record(desk, subject)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["given_by"] == {"role": "person"}


def test_the_audit_event_names_the_relation_never_the_representative(
    desk: Desk, events_of: EventsOf
) -> None:
    subject = _child(desk, _years_before(_today(), 9))
    assert _record(desk, subject, legal_representative=REPRESENTATIVE).status_code == 201
    [granted] = events_of("consent.granted")
    assert granted["details"]["given_by"] == {"role": "legal_representative", "relation": "parent"}
    assert "Samira" not in str(granted)


def test_an_unknown_relation_is_refused(desk: Desk) -> None:
    subject = _child(desk, _years_before(_today(), 9))
    refused = _record(desk, subject, legal_representative={"name": "X", "relation": "neighbour"})
    assert refused.status_code == 422
