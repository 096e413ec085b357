"""openapi/jobcenter-adapter.yaml: a valid OpenAPI 3.1 document that the code keeps to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from adapters.base import ConsentSummary, DeliveredQuery, LegalBasisSummary, PersonReference
from adapters.rest import query_to_json
from adapters.simulator import create_app

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "openapi" / "jobcenter-adapter.yaml"
CONTRACT: dict[str, Any] = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))
CATALOGUE = yaml.safe_load((ROOT / "policies" / "questions.yaml").read_text(encoding="utf-8"))
CONTRACT_URI = "urn:consent-gateway:jobcenter-adapter"


def contract_schema(name: str) -> Draft202012Validator:
    """A validator for ``components/schemas/NAME`` whose $refs resolve inside the document."""
    resource = Resource.from_contents(CONTRACT, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(CONTRACT_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{CONTRACT_URI}#/components/schemas/{name}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(pointer: str) -> object:
    node: object = CONTRACT
    for part in pointer.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), pointer
        node = node[part]
    return node


def test_it_is_openapi_3_1() -> None:
    assert str(CONTRACT["openapi"]).startswith("3.1.")


def test_every_ref_resolves_inside_the_document() -> None:
    found = list(refs(CONTRACT))
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        resolve(ref)


def test_it_passes_the_openapi_spec_validator() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(CONTRACT)


def test_it_has_the_operations_webhook_and_mutual_tls() -> None:
    assert set(CONTRACT["paths"]) == {"/queries", "/queries/{query_id}/answer", "/health"}
    delivery = CONTRACT["paths"]["/queries"]["post"]
    assert {"200", "202", "400", "422"} <= set(delivery["responses"])
    header_names = {resolve(p["$ref"])["name"] for p in delivery["parameters"]}  # type: ignore[index]
    assert header_names == {"Idempotency-Key", "traceparent"}
    answer = CONTRACT["paths"]["/queries/{query_id}/answer"]["get"]
    assert {"200", "202", "404"} <= set(answer["responses"])
    callback = resolve(CONTRACT["webhooks"]["answerCallback"]["$ref"])
    assert isinstance(callback, dict)
    callback_headers = {parameter["name"] for parameter in callback["post"]["parameters"]}
    assert callback_headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert CONTRACT["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"
    assert CONTRACT["security"] == [{"mutualTLS": []}]


def test_the_adapter_sends_what_the_contract_describes() -> None:
    query = DeliveredQuery(
        query_id="qry-1",
        jobcenter_key="JC-08121",
        question="wage_subsidy_coordination",
        purpose="wage_subsidy",
        direction="municipality_asks_jobcenter",
        person=PersonReference(
            subject_id="sub-1",
            given_name="Amina",
            family_name="Exampleson",
            birth_date=date(1990, 4, 12),
        ),
        consent=ConsentSummary(
            consent_id="con-1",
            purposes=("wage_subsidy",),
            categories=("job_offer", "wage_subsidy"),
            valid_until=datetime(2026, 6, 30, tzinfo=UTC),
        ),
        deadline=datetime(2025, 12, 4, 23, 0),
        parameters={"employer_name": "Beispiel GmbH", "starts_on": date(2026, 2, 1)},
    )
    errors = [
        e.message for e in contract_schema("DeliveredQuery").iter_errors(query_to_json(query))
    ]
    assert not errors


def test_the_example_delivery_is_valid_and_answers_match_the_catalogue() -> None:
    examples = CONTRACT["components"]["examples"]
    delivered = examples["DeliveredBenefitStatus"]["value"]
    assert not list(contract_schema("DeliveredQuery").iter_errors(delivered))
    schemas = {q["id"]: q["answer_schema"] for q in CATALOGUE["questions"]}
    for name, question in [
        ("AnsweredBenefitStatus", "benefit_status"),
        ("AnsweredUpcomingAppointments", "upcoming_appointments"),
    ]:
        result = examples[name]["value"]
        assert not list(contract_schema("AnsweredResult").iter_errors(result))
        validator = Draft202012Validator(
            schemas[question], format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        assert not list(validator.iter_errors(result["answer"])), name


def test_the_simulator_answers_what_the_contract_describes() -> None:
    delivered = CONTRACT["components"]["examples"]["DeliveredBenefitStatus"]["value"]
    with TestClient(create_app(), base_url="https://jobcenter.test") as client:
        response = client.post(
            "/queries", json=delivered, headers={"Idempotency-Key": delivered["query_id"]}
        )
        assert response.status_code == 200
        assert not list(contract_schema("AnsweredResult").iter_errors(response.json()))
        refused = client.get("/queries/unknown/answer")
        assert refused.status_code == 404
        assert not list(contract_schema("Problem").iter_errors(refused.json()))
        assert not list(contract_schema("Health").iter_errors(client.get("/health").json()))


def test_a_statutory_question_travels_without_consent_and_names_its_paragraph() -> None:
    query = DeliveredQuery(
        query_id="qry-2",
        jobcenter_key="JC-08125",
        question="jobcenter_responsibility",
        purpose="benefit_coordination",
        direction="municipality_asks_jobcenter",
        person=PersonReference(
            subject_id="sub-2",
            given_name="Amina",
            family_name="Exampleson",
            birth_date=date(1990, 4, 12),
        ),
        consent=None,
        legal_basis=LegalBasisSummary(kind="statute", citation="§ 50 Abs. 1 SGB II"),
        deadline=datetime(2025, 12, 4, 23, 0, tzinfo=UTC),
    )
    delivered = query_to_json(query)
    assert delivered["consent"] is None
    assert delivered["legal_basis"] == {"kind": "statute", "citation": "§ 50 Abs. 1 SGB II"}
    assert not [e.message for e in contract_schema("DeliveredQuery").iter_errors(delivered)]

    with TestClient(create_app(), base_url="https://jobcenter.test") as client:
        response = client.post(
            "/queries", json=delivered, headers={"Idempotency-Key": delivered["query_id"]}
        )
    assert response.status_code == 200, response.text
    answer = response.json()["answer"]
    schemas = {q["id"]: q["answer_schema"] for q in CATALOGUE["questions"]}
    assert not list(Draft202012Validator(schemas["jobcenter_responsibility"]).iter_errors(answer))
    assert answer["responsible"] is True
