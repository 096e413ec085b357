"""The jobcenter simulator: the contract, idempotency, catalogue-valid answers, callbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from adapters.base import (
    AdapterRejected,
    ConsentSummary,
    DeliveredQuery,
    DeliveryOutcome,
    PersonReference,
)
from adapters.rest import (
    RestAdapter,
    RestAdapterSettings,
    generate_callback_secret,
    query_to_json,
    verify_callback,
)
from adapters.simulator import ANSWERABLE_QUESTIONS, SimulatorState, create_app, synthetic_answer

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = yaml.safe_load((ROOT / "policies" / "questions.yaml").read_text(encoding="utf-8"))
ASKED_OF_JOBCENTERS = [
    question
    for question in CATALOGUE["questions"]
    if question["direction"] == "municipality_asks_jobcenter"
]
ALL_CATEGORIES = tuple(
    entry["id"]
    for entry in yaml.safe_load((ROOT / "policies" / "categories.yaml").read_text("utf-8"))[
        "categories"
    ]
)
PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "wage_subsidy_coordination": [
        {
            "employer_name": "Beispiel GmbH",
            "position_title": "Lagerhelfer",
            "starts_on": "2026-02-01",
            "weekly_hours": 38.5,
        },
        {
            "employer_name": "Beispiel GmbH",
            "position_title": "Aushilfe",
            "starts_on": "2026-02-01",
            "weekly_hours": 10,
        },
    ],
    "bridging_benefit": [
        {"employment_starts_on": "2026-02-01", "first_wage_payment_on": "2026-03-01"},
        {"employment_starts_on": "2026-02-01"},
    ],
    "message_to_jobcenter": [{"text": "Bitte um Rückruf."}],
}
PEOPLE = [
    ("Amina", "Exampleson", date(1990, 4, 12)),
    ("Olena", "Beispielenko", date(1985, 11, 3)),
    ("Mohammad Reza", "Testi", date(2001, 1, 30)),
] + [
    (f"Person{index}", f"Synthetic{index}", date(1970 + index, 1 + index % 12, 1))
    for index in range(40)
]
TODAY = date(2025, 12, 1)


def make_query(
    *,
    question: str = "benefit_status",
    query_id: str = "qry-1",
    person: tuple[str, str, date] = PEOPLE[0],
    categories: tuple[str, ...] = ALL_CATEGORIES,
    parameters: dict[str, Any] | None = None,
    callback_url: str | None = None,
    subject_id: str = "sub-1",
) -> DeliveredQuery:
    given, family, born = person
    return DeliveredQuery(
        query_id=query_id,
        jobcenter_key="JC-08121",
        question=question,
        purpose="benefit_coordination",
        direction="municipality_asks_jobcenter",
        person=PersonReference(
            subject_id=subject_id, given_name=given, family_name=family, birth_date=born
        ),
        consent=ConsentSummary(
            consent_id="con-1",
            purposes=("benefit_coordination",),
            categories=categories,
            valid_until=datetime(2026, 6, 30, tzinfo=UTC),
        ),
        deadline=datetime(2025, 12, 4, tzinfo=UTC),
        parameters=parameters or {},
        callback_url=callback_url,
    )


def schema_of(question_id: str) -> Draft202012Validator:
    question = next(q for q in CATALOGUE["questions"] if q["id"] == question_id)
    return Draft202012Validator(
        question["answer_schema"], format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(today=lambda: TODAY), base_url="https://jobcenter.test") as test:
        yield test


def post(client: TestClient, query: DeliveredQuery, *, key: str | None = None) -> httpx.Response:
    response: httpx.Response = client.post(
        "/queries",
        json=query_to_json(query),
        headers={"Idempotency-Key": key if key is not None else query.query_id},
    )
    return response


# ----------------------------------------------------------------------------- answers


def test_every_question_asked_of_jobcenters_is_answered() -> None:
    assert {question["id"] for question in ASKED_OF_JOBCENTERS} == set(ANSWERABLE_QUESTIONS)


@pytest.mark.parametrize("question", [q["id"] for q in ASKED_OF_JOBCENTERS])
def test_answers_validate_against_the_catalogue_schema(question: str) -> None:
    validator = schema_of(question)
    for index, person in enumerate(PEOPLE):
        for parameters in PARAMETERS.get(question, [{}]):
            for categories in (ALL_CATEGORIES, ()):
                query = make_query(
                    question=question,
                    person=person,
                    parameters=parameters,
                    categories=categories,
                    query_id=f"q{index}",
                )
                answer = synthetic_answer(query=query_to_json(query), today=TODAY)
                errors = [error.message for error in validator.iter_errors(answer)]
                assert not errors, (question, person, answer)


def test_the_same_person_gets_the_same_data_and_others_differ() -> None:
    first = make_query(question="assigned_contact", query_id="a", subject_id="sub-1")
    again = make_query(question="assigned_contact", query_id="b", subject_id="sub-9")
    assert synthetic_answer(query=query_to_json(first), today=TODAY) == synthetic_answer(
        query=query_to_json(again), today=TODAY
    )
    answers = {
        json.dumps(
            synthetic_answer(
                query=query_to_json(make_query(question="benefit_status", person=person)),
                today=TODAY,
            ),
            sort_keys=True,
        )
        for person in PEOPLE
    }
    assert len(answers) > 3


def test_fields_of_categories_outside_the_consent_are_left_out() -> None:
    for person in PEOPLE:
        measures = synthetic_answer(
            query=query_to_json(
                make_query(
                    question="measures_and_course_obligation",
                    person=person,
                    categories=("measures", "course_obligation"),
                )
            ),
            today=TODAY,
        )
        assert "health_restrictions" not in measures
        subsidy = synthetic_answer(
            query=query_to_json(
                make_query(
                    question="wage_subsidy_coordination",
                    person=person,
                    categories=("job_offer", "wage_subsidy"),
                    parameters=PARAMETERS["wage_subsidy_coordination"][0],
                )
            ),
            today=TODAY,
        )
        assert "contact" not in subsidy


def test_simulator_answers_over_the_contract(client: TestClient) -> None:
    response = post(client, make_query())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "answered"
    assert not list(schema_of("benefit_status").iter_errors(body["answer"]))
    assert client.get("/queries/qry-1/answer").json() == body
    assert client.get("/health").json() == {"status": "ok"}


# ----------------------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_returns_the_same_result(client: TestClient) -> None:
    first = post(client, make_query())
    second = post(client, make_query())
    assert second.status_code == first.status_code == 200
    assert second.json() == first.json()


def test_the_same_key_with_another_body_is_refused(client: TestClient) -> None:
    post(client, make_query())
    response = post(client, make_query(question="assigned_contact"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/idempotency-key-reused"


@pytest.mark.parametrize(
    ("key", "slug"),
    [("", "idempotency-key-missing"), ("other", "idempotency-key-mismatch")],
)
def test_the_idempotency_key_is_required_and_is_the_query_id(
    client: TestClient, key: str, slug: str
) -> None:
    response = post(client, make_query(), key=key)
    assert response.status_code == 400
    assert response.json()["type"] == f"/problems/{slug}"


def test_an_invalid_body_is_refused_without_echoing_it(client: TestClient) -> None:
    body = query_to_json(make_query())
    body["person"]["birth_date"] = "Amina's birthday"
    response = client.post("/queries", json=body, headers={"Idempotency-Key": "qry-1"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "Amina" not in response.text


def test_questions_for_municipalities_are_refused(client: TestClient) -> None:
    response = post(client, make_query(question="german_language_level"))
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/unknown-question"


def test_an_unknown_query_has_no_answer(client: TestClient) -> None:
    response = client.get("/queries/nope/answer")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# ----------------------------------------------------------------------------- through the adapter


def adapter_for(client: TestClient) -> RestAdapter:
    settings = RestAdapterSettings(
        base_url="https://jobcenter.test",
        client_cert=Path("/nonexistent"),
        client_key=Path("/nonexistent"),
        ca_bundle=Path("/nonexistent"),
        backoff_base_seconds=0,
    )
    return RestAdapter(jobcenter_key="JC-08121", settings=settings, client=client)


def test_rest_adapter_and_simulator_agree(client: TestClient) -> None:
    adapter = adapter_for(client)
    delivery = adapter.deliver(make_query())
    assert delivery.outcome is DeliveryOutcome.ANSWERED
    assert adapter.fetch_answer("qry-1") == delivery.answer
    assert adapter.health().ok
    with pytest.raises(AdapterRejected, match="unknown-question"):
        adapter.deliver(make_query(question="german_language_level", query_id="qry-2"))


def test_async_mode_accepts_then_calls_back_with_a_signed_answer() -> None:
    secret = generate_callback_secret()
    received: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    with (
        httpx.Client(transport=httpx.MockTransport(gateway)) as callback_client,
        TestClient(
            create_app(
                callback_secret=secret, answer_mode="async", callback_client=callback_client
            ),
            base_url="https://jobcenter.test",
        ) as client,
    ):
        state: SimulatorState = client.app.state.simulator  # type: ignore[attr-defined]
        adapter = adapter_for(client)
        query = make_query(callback_url="https://gateway.test/v1/adapter-callbacks/JC-08121")

        delivery = adapter.deliver(query)
        assert delivery.outcome is DeliveryOutcome.ACCEPTED
        assert state.wait_for_callback("qry-1", timeout=5) == 204
        again = post(client, query)  # the same key: accepted again, no second callback
        assert again.status_code == 202
        assert again.json() == {"status": "accepted"}
        answer = adapter.fetch_answer("qry-1")

    assert len(received) == 1
    request = received[0]
    assert str(request.url) == "https://gateway.test/v1/adapter-callbacks/JC-08121"
    message = verify_callback(secret=secret, headers=dict(request.headers), body=request.content)
    assert message == {"query_id": "qry-1", "answer": answer}
    assert request.headers["webhook-id"] == "msg_qry-1"


def test_async_mode_without_callback_url_is_polled() -> None:
    with TestClient(create_app(answer_mode="async"), base_url="https://jobcenter.test") as client:
        state: SimulatorState = client.app.state.simulator  # type: ignore[attr-defined]
        assert post(client, make_query()).status_code == 202
        with state.changed:
            state.changed.wait_for(lambda: state.entries["qry-1"].ready, timeout=5)
        assert adapter_for(client).fetch_answer("qry-1") is not None
        assert state.callbacks == []
