"""Registering persons: pseudonyms, the blind index, and no plaintext anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from structlog.testing import capture_logs

from gateway.bootstrap import Container
from gateway.keys import KeyPurpose
from gateway.subjects import repository, service
from gateway.subjects.normalise import normalise_name
from tests.support import World

PERSON = {"given_name": "Olena", "family_name": "Shevchenko", "birth_date": "1991-04-17"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Müller", "Mueller"),
        ("Олена", "Olena"),
        ("Шевченко", "Shevchenko"),
        ("Al-Hassan", "al hassan"),
        ("Çelik", "Celik"),
        ("Straße", "Strasse"),
    ],
)
def test_normalisation_matches_spelling_variants(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


def test_different_names_do_not_match() -> None:
    assert normalise_name("Mohammed") != normalise_name("Muhammad")


def test_the_same_person_gets_the_same_pseudonym(client: TestClient, world: World) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    first = client.post("/v1/subjects", json=PERSON, headers=headers)
    assert first.status_code == 201
    variant = {"given_name": "ОЛЕНА", "family_name": "Шевченко", "birth_date": "1991-04-17"}
    again = client.post("/v1/subjects", json=variant, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = client.post(
        "/v1/subjects", json={**PERSON, "birth_date": "1991-04-18"}, headers=headers
    )
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_no_plaintext_identity_in_the_database_or_logs(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    person = {**PERSON, "given_name": "Zulfiyaxon", "jobcenter_customer_number": "JC123456789"}
    with capture_logs() as logs:
        response = client.post("/v1/subjects", json=person, headers=headers)
    assert response.status_code == 201
    flat = repr(logs)
    for secret in ("Zulfiyaxon", "Shevchenko", "1991-04-17", "JC123456789"):
        assert secret not in flat
    with container.engine.connect() as connection:
        dump = "\n".join(
            repr(row)
            for table in ("subjects", "audit_events")
            for row in connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
        )
    for secret in ("Zulfiyaxon", "Shevchenko", "1991-04-17", "JC123456789"):
        assert secret not in dump
    if container.engine.dialect.name == "sqlite":
        container.engine.dispose()  # closes connections; SQLite checkpoints its WAL
        database = Path(container.engine.url.database or "")
        files = [database, Path(f"{database}-wal")]
        raw = b"".join(path.read_bytes() for path in files if path.exists())
        for secret in ("Zulfiyaxon", "Shevchenko", "1991-04-17", "JC123456789"):
            assert secret.encode() not in raw


def test_rotation_reseals_identities(
    client: TestClient, container: Container, world: World
) -> None:
    from sqlmodel import Session

    headers = world.case_system.bearer(client, user_id=world.manager)
    subject_id = client.post("/v1/subjects", json=PERSON, headers=headers).json()["id"]
    container.keys.rotate([KeyPurpose.DATA])
    with Session(container.engine) as session:
        assert service.reseal_all(session, sealer=container.sealer) == 1
        session.commit()
        subject = repository.get(session, subject_id)
        assert subject is not None
        assert container.sealer.is_current(subject.identity_sealed)
        assert service.reveal(subject, sealer=container.sealer).family_name == "Shevchenko"
    again = client.post("/v1/subjects", json=PERSON, headers=headers)
    assert again.json()["id"] == subject_id


def test_bad_input_is_a_problem_and_changes_nothing(client: TestClient, world: World) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    for body in (
        {**PERSON, "birth_date": "17.04.1991"},
        {**PERSON, "given_name": ""},
        {**PERSON, "given_name": "---"},
        {**PERSON, "birth_date": "1850-01-01"},
        {**PERSON, "unexpected": "x"},
    ):
        response = client.post("/v1/subjects", json=body, headers=headers)
        assert response.status_code in {400, 422}, body
        assert response.headers["content-type"] == "application/problem+json"
    malformed = client.post(
        "/v1/subjects",
        content=b'{"given_name": ',
        headers={**headers, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "/problems/malformed-json"


def test_sql_looking_names_are_just_names(client: TestClient, world: World) -> None:
    headers = world.case_system.bearer(client, user_id=world.manager)
    body = {**PERSON, "family_name": "O'Brien'); DROP TABLE subjects;--"}
    first = client.post("/v1/subjects", json=body, headers=headers)
    assert first.status_code == 201
    assert (
        client.post("/v1/subjects", json=body, headers=headers).json()["id"] == first.json()["id"]
    )
