"""Finding 5: tokens of a system client without a user read personal data with
no policy check.

A jobcenter system's ``client_credentials`` token read a query's person (name,
birth date, customer number); a municipality's read answers and the audit
trail. Personal data needs a user with a role: the rules decide on roles, and
a token without a user has none (403 ``user-required``).
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import Desk, World

BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}


def test_a_bare_client_token_reads_no_personal_data(client: TestClient, world: World) -> None:
    desk = Desk(client, world)
    consent = desk.consent()["id"]
    query = desk.ask("benefit_status", "benefit_coordination").json()["id"]
    answered = client.post(
        f"/v1/queries/{query}/answer", json={"answer": BENEFIT_ANSWER}, headers=desk.staff
    )
    assert answered.status_code == 200, answered.text

    jobcenter_system = world.jobcenter_system.bearer(client)
    case_system = world.case_system.bearer(client)
    for headers, method, path in (
        (jobcenter_system, "GET", f"/v1/queries/{query}"),
        (jobcenter_system, "GET", "/v1/queries?status=open"),
        (case_system, "GET", f"/v1/queries/{query}"),
        (case_system, "GET", "/v1/queries"),
        (case_system, "GET", f"/v1/consents/{consent}"),
        (case_system, "GET", f"/v1/consents/{consent}/receipt"),
        (case_system, "GET", "/v1/audit/events"),
        (case_system, "GET", f"/v1/audit/subjects/{desk.subject}/report"),
        (case_system, "POST", f"/v1/queries/{query}/cancel"),
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["type"] == "/problems/user-required", (method, path)
        assert "Demir" not in response.text
        assert "1995-07-01" not in response.text


def test_the_same_client_acting_for_its_user_is_decided_by_the_rules(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    desk.consent()
    query = desk.ask("benefit_status", "benefit_coordination").json()["id"]
    seen = client.get(f"/v1/queries/{query}", headers=desk.staff)
    assert seen.status_code == 200
    assert seen.json()["person"]["family_name"] == "Demir"
