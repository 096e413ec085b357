"""GET /v1/catalogue (gateway.policy.endpoints) on a minimal application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.policy import PolicyEngine
from gateway.policy.endpoints import router

REPOSITORY_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_the_catalogue_lists_purposes_categories_and_questions() -> None:
    engine = PolicyEngine.load(REPOSITORY_POLICIES)
    app = FastAPI()
    app.state.policy_engine = engine
    app.include_router(router)

    with TestClient(app) as client:
        response = client.get("/v1/catalogue")

    assert response.status_code == 200
    body = response.json()
    assert body["policy_version"] == engine.version
    purposes = {purpose["id"]: purpose for purpose in body["purposes"]}
    assert purposes["wage_subsidy"]["categories"] == [
        "job_offer",
        "wage_subsidy",
        "assigned_contact",
    ]
    assert set(purposes["wage_subsidy"]["labels"]) >= {"de", "en", "ar", "uk", "fa", "tr", "ru"}
    categories = {category["id"]: category for category in body["categories"]}
    assert categories["health"]["special"] is True
    assert categories["benefit_status"]["special"] is False
    questions = {question["id"]: question for question in body["questions"]}
    assert len(questions) == len(engine.catalogue.questions)
    wage = questions["wage_subsidy_coordination"]
    assert wage["purpose"] == "wage_subsidy"
    assert wage["direction"] == "municipality_asks_jobcenter"
    assert wage["deadline_days"] == 5
    assert wage["free_text"] is False
    assert wage["parameters_schema"]["required"] == [
        "employer_name",
        "position_title",
        "starts_on",
        "weekly_hours",
    ]
    assert wage["answer_schema"]["properties"]["assessment"]["x-category"] == "wage_subsidy"
    assert "parameters_schema" not in questions["benefit_status"]
    assert questions["message_to_jobcenter"]["free_text"] is True
    assert questions["upcoming_appointments"]["optional_categories"] == ["assigned_contact"]
