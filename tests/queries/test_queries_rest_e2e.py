"""End to end over the network: the gateway routes a query to the simulator via the rest adapter
over mutual TLS on loopback, with the development certificates of certs-dev/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.rest import RestAdapter
from adapters.simulator import create_app as create_simulator
from gateway.app import create_app
from gateway.bootstrap import Container, build
from gateway.database import unit_of_work
from gateway.organisations import service
from gateway.organisations.models import OrganisationKind, Role
from gateway.settings import Settings
from tests.support import PERSON, register_client
from tests.tls import load_certs_generator, serve_tls

JOBCENTER_KEY = "JC-08121"  # routed to the simulator in policies/routing.yaml


@pytest.fixture
def certs(tmp_path: Path) -> Any:
    return load_certs_generator().generate(tmp_path / "certs", clients=["gateway-client"])


@pytest.fixture
def networked(settings: Settings, certs: Any) -> Iterator[tuple[TestClient, Container]]:
    with serve_tls(create_simulator(), certs) as url:
        networked_settings = settings.model_copy(
            update={"simulator_url": url, "adapter_certs_dir": Path(certs.ca_cert).parent}
        )
        container = build(networked_settings)
        try:
            with TestClient(create_app(container=container)) as client:
                yield client, container
        finally:
            container.close()


def test_a_query_answered_by_the_simulator_over_mutual_tls(
    networked: tuple[TestClient, Container],
) -> None:
    client, container = networked
    assert isinstance(container.adapters.for_key(JOBCENTER_KEY), RestAdapter)
    with unit_of_work(container.engine) as session:
        municipality = service.add_organisation(
            session,
            audit=container.audit,
            kind=OrganisationKind.MUNICIPALITY,
            name="Stadt Heilbronn",
            official_key="08121000",
        )
        jobcenter = service.add_organisation(
            session,
            audit=container.audit,
            kind=OrganisationKind.JOBCENTER,
            name="Jobcenter Stadt Heilbronn",
            official_key=JOBCENTER_KEY,
        )
        manager = service.add_user(
            session,
            audit=container.audit,
            organisation_id=municipality.id,
            role=Role.INTEGRATION_MANAGER,
            name="M",
            email="m@heilbronn.example",
        )
    case_system = register_client(
        container, municipality.id, "consents:write consents:read queries:ask"
    )
    headers = case_system.bearer(client, user_id=manager.id)
    subject = client.post("/v1/subjects", json=PERSON, headers=headers).json()["id"]
    consent = client.post(
        "/v1/consents",
        json={
            "subject_id": subject,
            "jobcenter_id": jobcenter.id,
            "purposes": ["benefit_coordination", "appointment_coordination"],
            "categories": ["benefit_status", "appointments"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": "2027-06-30",
            "language": "tr",
            "evidence": {"channel": "screen_signature"},
        },
        headers=headers,
    )
    assert consent.status_code == 201, consent.text
    for question, purpose in (
        ("benefit_status", "benefit_coordination"),
        ("upcoming_appointments", "appointment_coordination"),
    ):
        asked = client.post(
            "/v1/queries",
            json={"subject_id": subject, "question": question, "purpose": purpose},
            headers={**headers, "Idempotency-Key": f"e2e-{question}"},
        )
        assert asked.status_code == 201, asked.text
        body = asked.json()
        assert body["status"] == "answered", body
        assert body["adapter"] == "rest"
        read = client.get(f"/v1/queries/{body['id']}", headers=headers).json()
        problems = container.policy.validate_answer(question_id=question, answer=read["answer"])
        assert problems == ()
