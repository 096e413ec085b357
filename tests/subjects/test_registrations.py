"""Registering or finding a person: per organisation, audited, keys from the caller's area,
and migration 0010 filling the registrations table."""

from __future__ import annotations

import importlib

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.keys import KeyPurpose
from gateway.migrate import alembic_config
from gateway.organisations import service as organisations
from gateway.organisations.models import OrganisationKind, Role
from gateway.subjects import service
from gateway.subjects.models import SubjectRegistration
from tests.support import ALL, PERSON, World, register_client

MIGRATION = importlib.import_module("gateway.migrations.versions.0010_subject_registrations")


def _district_office(container: Container) -> dict[str, str]:
    """Staff of the Landratsamt Heilbronn (district 08125) and a client of theirs."""
    with unit_of_work(container.engine) as session:
        district = organisations.add_organisation(
            session,
            audit=container.audit,
            kind=OrganisationKind.DISTRICT,
            name="Landratsamt Heilbronn",
            official_key="08125",
        ).id
        user = organisations.add_user(
            session,
            audit=container.audit,
            organisation_id=district,
            role=Role.INTEGRATION_MANAGER,
            name="Test User",
            email="im@landratsamt.example",
        ).id
    return {"district": district, "user": user}


def test_keys_come_from_the_callers_area(
    client: TestClient, world: World, container: Container
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    staff = world.jobcenter_system.bearer(client, user_id=world.staff)
    office = _district_office(container)
    district = register_client(container, office["district"], ALL).bearer(
        client, user_id=office["user"]
    )
    cases = [
        (manager, "08125013", 201),  # Brackenheim's own key
        (manager, "08125056", 422),  # Lauffen's
        (district, "08125056", 201),  # a municipality of the district
        (district, "08121000", 422),  # the city of Heilbronn is a district of its own
        (staff, "08125056", 201),  # routing.yaml: JC-08125 answers for district 08125
        (staff, "08121000", 422),  # JC-08121's
    ]
    for number, (headers, key, status) in enumerate(cases):
        body = {**PERSON, "given_name": f"Person{chr(65 + number)}", "municipality_key": key}
        response = client.post("/v1/subjects", json=body, headers=headers)
        assert response.status_code == status, (key, response.text)
        if status == 422:
            assert response.json()["type"] == "/problems/municipality-outside-area"


def test_who_may_register_is_the_rules_word(client: TestClient, world: World) -> None:
    operator = world.operator_client.bearer(client, user_id=world.operator_dpo)
    refused = client.post("/v1/subjects", json=PERSON, headers=operator)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/register-person-forbidden"
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    assert client.post("/v1/subjects", json=PERSON, headers=dpo).status_code == 403
    bare = client.post("/v1/subjects", json=PERSON, headers=world.case_system.bearer(client))
    assert bare.status_code == 403
    assert bare.json()["type"] == "/problems/user-required"


def test_another_person_needs_a_customer_number(client: TestClient, world: World) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    response = client.post("/v1/subjects", json={**PERSON, "another_person": True}, headers=manager)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/customer-number-required"


def test_each_organisation_keeps_its_own_number_and_rotation_reseals_it(
    client: TestClient, world: World, container: Container
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    staff = world.jobcenter_system.bearer(client, user_id=world.staff)
    subject = client.post("/v1/subjects", json=PERSON, headers=manager).json()["id"]
    found = client.post(
        "/v1/subjects", json={**PERSON, "jobcenter_customer_number": "JC-77"}, headers=staff
    )
    assert (found.status_code, found.json()["id"]) == (201, subject)
    container.keys.rotate([KeyPurpose.DATA])
    with Session(container.engine) as session:
        assert service.reseal_all(session, sealer=container.sealer) == 2
        session.commit()
        rows = session.exec(
            select(SubjectRegistration).where(SubjectRegistration.subject_id == subject)
        ).all()
        numbers = {
            row.organisation_id: service.open_number(
                row.customer_number_sealed, subject_id=subject, sealer=container.sealer
            )
            for row in rows
        }
        assert all(
            container.sealer.is_current(row.customer_number_sealed)
            for row in rows
            if row.customer_number_sealed
        )
    assert numbers == {world.municipality: None, world.jobcenter: "JC-77"}


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_migration_0010_fills_the_table_from_registrars_and_the_pages(
    client: TestClient, world: World, container: Container
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    numbered = {**PERSON, "jobcenter_customer_number": "JC-88"}
    subject = client.post("/v1/subjects", json=numbered, headers=manager).json()["id"]
    other = world.other_case_system.bearer(client, user_id=world.other_manager)
    assert client.post("/v1/subjects", json=PERSON, headers=other).status_code == 201
    engine = container.engine

    _migrate(engine, "downgrade", MIGRATION.down_revision)
    with engine.begin() as connection:
        known = connection.execute(
            text("SELECT organisation_id FROM web_known_subjects WHERE subject_id = :s"),
            {"s": subject},
        ).all()
        assert [row[0] for row in known] == [world.other_municipality]
    _migrate(engine, "upgrade", MIGRATION.revision)

    with Session(engine) as session:
        rows = session.exec(
            select(SubjectRegistration).where(SubjectRegistration.subject_id == subject)
        ).all()
        by_organisation = {row.organisation_id: row for row in rows}
        assert set(by_organisation) == {world.municipality, world.other_municipality}
        assert (
            service.open_number(
                by_organisation[world.municipality].customer_number_sealed,
                subject_id=subject,
                sealer=container.sealer,
            )
            == "JC-88"
        )
        assert by_organisation[world.other_municipality].customer_number_sealed is None
