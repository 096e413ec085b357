"""Key figures through the API and the CLI, on SQLite and PostgreSQL: exact counts,
suppression, who sees which organisations, CSV.

The scenario is made through the API and the services, then moved to June of
last year in the database, so the months are fixed whatever day the suite runs.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.cli import main
from gateway.clock import utcnow
from gateway.consents.models import Consent
from gateway.database import unit_of_work
from gateway.organisations import service as organisations
from gateway.organisations.models import Organisation, OrganisationKind, Role
from gateway.queries.models import Query
from gateway.settings import Settings
from tests.support import ALL, World, register_client

YEAR = utcnow().year - 1
JUNE = f"{YEAR}-06"
BASE = datetime(YEAR, 6, 12, 8, 0, tzinfo=UTC)
# Hours from asking to answering of the six answered queries; the last one is late.
HOURS = [0.2, 0.4, 0.6, 0.8, 1.0, 2.0]
BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}


class Scenario:
    """Eleven persons of Stadt Brackenheim and the jobcenter, as in the module docstring."""

    def __init__(self, client: TestClient, world: World, container: Container) -> None:
        self.client = client
        self.world = world
        self.container = container
        self.manager = world.case_system.bearer(client, user_id=world.manager)
        self.staff = world.jobcenter_system.bearer(client, user_id=world.staff)
        self.persons = [self._person(i) for i in range(11)]
        self.consents = [self._consent(subject) for subject in self.persons[:6]]
        self.answered = [
            self._ask(subject, "benefit_status", "benefit_coordination", 201)
            for subject in self.persons[:6]
        ]
        self.open = [
            self._ask(subject, "measures_and_course_obligation", "measures_and_courses", 201)
            for subject in self.persons[2:4]
        ]
        # Five persons without a consent: denied, reason no_consent.
        self.denied = [
            self._ask(subject, "benefit_status", "benefit_coordination", 403)
            for subject in self.persons[6:]
        ]
        for query_id in self.answered:
            response = client.post(
                f"/v1/queries/{query_id}/answer",
                json={"answer": BENEFIT_ANSWER},
                headers=self.staff,
            )
            assert response.status_code == 200, response.text
        for consent_id in self.consents[:2]:
            response = client.post(
                f"/v1/consents/{consent_id}/revoke", json={"channel": "phone"}, headers=self.manager
            )
            assert response.status_code == 200, response.text
        with unit_of_work(container.engine) as session:
            expiring = session.get(Consent, self.consents[5])
            assert expiring is not None
            expiring.valid_until = utcnow() - timedelta(seconds=1)
            session.add(expiring)
            session.flush()
            assert container.consents.expire_due(session) == 1
        self._backdate()

    def _person(self, index: int) -> str:
        body = {
            "given_name": f"Person{chr(65 + index)}",
            "family_name": "Figures",
            "birth_date": f"1990-01-{index + 1:02d}",
        }
        response = self.client.post("/v1/subjects", json=body, headers=self.manager)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def _consent(self, subject: str) -> str:
        body: dict[str, Any] = {
            "subject_id": subject,
            "jobcenter_id": self.world.jobcenter,
            "purposes": ["benefit_coordination", "measures_and_courses"],
            "categories": ["benefit_status", "measures", "course_obligation"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": (date.today() + timedelta(days=180)).isoformat(),
            "language": "de",
            "evidence": {"channel": "paper_signature"},
        }
        response = self.client.post("/v1/consents", json=body, headers=self.manager)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def _ask(self, subject: str, question: str, purpose: str, status: int) -> str:
        response = self.client.post(
            "/v1/queries",
            json={"subject_id": subject, "question": question, "purpose": purpose},
            headers={**self.manager, "Idempotency-Key": f"{subject}-{question}"},
        )
        assert response.status_code == status, response.text
        body = response.json()
        return str(body["id"] if status == 201 else body["query_id"])

    def _backdate(self) -> None:
        with unit_of_work(self.container.engine) as session:
            for index, consent_id in enumerate(self.consents):
                consent = session.get(Consent, consent_id)
                assert consent is not None
                given = datetime(YEAR, 6, 10, 8, 0, tzinfo=UTC)
                consent.recorded_at = consent.valid_from = consent.activated_at = given
                if index < 2:
                    consent.ended_at = datetime(YEAR, 6, 20, 9, 0, tzinfo=UTC)
                if index == 5:
                    consent.valid_until = consent.ended_at = datetime(YEAR, 6, 25, tzinfo=UTC)
                session.add(consent)
            for index, query_id in enumerate(self.answered):
                query = session.get(Query, query_id)
                assert query is not None
                query.created_at = BASE
                query.answered_at = BASE + timedelta(hours=HOURS[index])
                late = index == len(HOURS) - 1
                query.deadline = BASE + (timedelta(hours=1) if late else timedelta(days=5))
                session.add(query)
            for query_id in self.open + self.denied:
                query = session.get(Query, query_id)
                assert query is not None
                query.created_at = BASE
                session.add(query)


@pytest.fixture
def scenario(client: TestClient, world: World, container: Container) -> Scenario:
    return Scenario(client, world, container)


def _figures(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/v1/figures", params={"year": YEAR, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _month(report: dict[str, Any], organisation_id: str, month: str = JUNE) -> Any:
    row = next(o for o in report["organisations"] if o["id"] == organisation_id)
    return next(m for m in row["months"] if m["month"] == month)


def test_counts_and_suppression(scenario: Scenario) -> None:
    world = scenario.world
    report = _figures(scenario.client, scenario.manager)
    assert report["year"] == YEAR
    assert report["threshold"] == 5
    assert [o["id"] for o in report["organisations"]] == [world.municipality]
    assert [m["month"] for m in report["organisations"][0]["months"]] == [
        f"{YEAR}-{m:02d}" for m in range(1, 13)
    ]
    june = _month(report, world.municipality)
    # Six persons gave consent; two revoked, one expired, so three are left at the end.
    assert june["consents"] == {
        "given": 6,
        "active_at_month_end": "<5",
        "revoked": "<5",
        "expired": "<5",
    }
    # Thirteen queries of eleven persons; the two about measures are fewer than five
    # persons, so their complements are withheld ("x") in both breakdowns.
    assert june["queries"] == {
        "asked": 13,
        "by_purpose": {"benefit_coordination": "x", "measures_and_courses": "<5"},
        "by_question": {"benefit_status": "x", "measures_and_course_obligation": "<5"},
    }
    assert june["answers"] == {
        "answered": 6,
        "within_deadline": "x",
        "late": "<5",
        "by_answerer": {
            world.jobcenter: {"answered": 6, "median_hours": 0.7, "p90_hours": 1.5},
        },
    }
    assert june["denials"] == {"by_reason": {"no_consent": 5}}

    may = _month(report, world.municipality, f"{YEAR}-05")
    assert may["consents"] == {"given": 0, "active_at_month_end": 0, "revoked": 0, "expired": 0}
    assert may["queries"] == {"asked": 0, "by_purpose": {}, "by_question": {}}
    july = _month(report, world.municipality, f"{YEAR}-07")
    assert july["consents"]["active_at_month_end"] == "<5"


def test_the_jobcenter_sees_its_side(scenario: Scenario) -> None:
    world = scenario.world
    with unit_of_work(scenario.container.engine) as session:
        jc_dpo = organisations.add_user(
            session,
            audit=scenario.container.audit,
            organisation_id=world.jobcenter,
            role=Role.DPO,
            name="JC DPO",
            email="dpo@jobcenter.example",
        ).id
    headers = world.jobcenter_system.bearer(scenario.client, user_id=jc_dpo)
    report = _figures(scenario.client, headers)
    assert [o["id"] for o in report["organisations"]] == [world.jobcenter]
    june = _month(report, world.jobcenter)
    # Only routed queries reach the jobcenter (eight, of six persons); denials stay with the asker.
    assert june["queries"] == {
        "asked": 8,
        "by_purpose": {"benefit_coordination": "x", "measures_and_courses": "<5"},
        "by_question": {"benefit_status": "x", "measures_and_course_obligation": "<5"},
    }
    assert june["answers"]["answered"] == 6
    assert june["answers"]["by_answerer"][world.jobcenter]["median_hours"] == 0.7
    assert june["denials"] == {"by_reason": {}}
    assert june["consents"]["given"] == 6


def test_who_sees_which_organisations(scenario: Scenario) -> None:
    client, world, container = scenario.client, scenario.world, scenario.container
    with unit_of_work(container.engine) as session:
        district = organisations.add_organisation(
            session,
            audit=container.audit,
            kind=OrganisationKind.DISTRICT,
            name="Landratsamt Heilbronn",
            official_key="08125",
        ).id
        municipality = session.get(Organisation, world.municipality)
        assert municipality is not None
        municipality.parent_id = district
        session.add(municipality)
        district_dpo = organisations.add_user(
            session,
            audit=container.audit,
            organisation_id=district,
            role=Role.DPO,
            name="District DPO",
            email="dpo@landratsamt.example",
        ).id
    district_client = register_client(container, district, ALL)

    seen = _figures(client, district_client.bearer(client, user_id=district_dpo))
    assert {o["id"] for o in seen["organisations"]} == {district, world.municipality}
    # The district sees the same cells as the municipality itself.
    assert _month(seen, world.municipality) == _month(
        _figures(client, scenario.manager), world.municipality
    )

    operator = world.operator_client.bearer(client, user_id=world.operator_dpo)
    everyone = _figures(client, operator)
    assert {o["id"] for o in everyone["organisations"]} == {
        district,
        world.municipality,
        world.other_municipality,
        world.jobcenter,
        world.other_jobcenter,
    }
    only = _figures(client, operator, organisation=world.other_municipality)
    assert [o["id"] for o in only["organisations"]] == [world.other_municipality]
    assert _month(only, world.other_municipality)["consents"]["given"] == 0

    other = world.other_case_system.bearer(client, user_id=world.other_dpo)
    assert [o["id"] for o in _figures(client, other)["organisations"]] == [world.other_municipality]
    hidden = client.get("/v1/figures", params={"organisation": world.municipality}, headers=other)
    assert hidden.status_code == 404
    assert hidden.json()["type"] == "/problems/organisation-not-found"

    no_user = client.get("/v1/figures", headers=world.case_system.bearer(client))
    assert no_user.status_code == 403
    assert no_user.json()["type"] == "/problems/user-required"
    staff = client.get("/v1/figures", headers=scenario.staff)
    assert staff.status_code == 403
    assert staff.json()["type"] == "/problems/figures-forbidden"
    assert client.get("/v1/figures").status_code == 401
    bad_year = client.get("/v1/figures", params={"year": 1800}, headers=scenario.manager)
    assert bad_year.status_code == 422


def test_csv_holds_the_same_cells(scenario: Scenario) -> None:
    world = scenario.world
    response = scenario.client.get(
        "/v1/figures", params={"year": YEAR, "format": "csv"}, headers=scenario.manager
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f"figures-{YEAR}.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    june = {(r["figure"], r["dimension"]): r["value"] for r in rows if r["month"] == JUNE}
    assert june[("consents.given", "")] == "6"
    assert june[("consents.revoked", "")] == "<5"
    assert june[("queries.by_purpose", "benefit_coordination")] == "x"
    assert june[("answers.by_answerer.median_hours", world.jobcenter)] == "0.7"
    assert june[("answers.by_answerer.p90_hours", world.jobcenter)] == "1.5"
    assert june[("denials.by_reason", "no_consent")] == "5"
    assert {r["organisation_id"] for r in rows} == {world.municipality}
    assert {r["organisation"] for r in rows} == {"Stadt Brackenheim"}
    assert len({r["month"] for r in rows}) == 12


def test_cli_prints_the_operator_view(
    scenario: Scenario,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GATEWAY_ENV", "test")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "WARNING")
    world = scenario.world

    assert main(["figures", "--year", str(YEAR), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {o["id"] for o in report["organisations"]} == {
        world.municipality,
        world.other_municipality,
        world.jobcenter,
        world.other_jobcenter,
    }
    assert _month(report, world.municipality)["answers"]["answered"] == 6

    code = main(
        ["figures", "--year", str(YEAR), "--format", "csv", "--organisation", world.jobcenter]
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["organisation_id"] for r in rows} == {world.jobcenter}
    asked = [r for r in rows if r["month"] == JUNE and r["figure"] == "queries.asked"]
    assert [r["value"] for r in asked] == ["8"]

    assert main(["figures", "--year", str(YEAR), "--organisation", "org-unknown"]) == 2
    assert capsys.readouterr().err == "gateway: error: No such organisation.\n"
    with pytest.raises(SystemExit) as exited:
        main(["figures", "--year", "20x6"])
    assert exited.value.code == 2
