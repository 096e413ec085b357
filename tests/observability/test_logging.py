"""Logs carry request ids and never personal data or secrets."""

from __future__ import annotations

import structlog
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from gateway.observability.logging import REDACTED, redact
from tests.support import World


def test_redaction_processor_replaces_personal_keys() -> None:
    event = {"event": "x", "given_name": "Amina", "birth_date": "1990-01-01", "route": "/v1/me"}
    assert redact(None, "info", event) == {
        "event": "x",
        "given_name": REDACTED,
        "birth_date": REDACTED,
        "route": "/v1/me",
    }


def test_access_log_has_request_id_and_no_tokens(client: TestClient, world: World) -> None:
    response = world.case_system.token(client)
    token = response.json()["access_token"]
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        client.get(
            "/v1/me?subject=Amina",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-12345678"},
        )
    access = [entry for entry in logs if entry["event"] == "request"]
    assert access
    assert access[0]["request_id"] == "req-12345678"
    assert access[0]["status"] == 200
    flat = repr(logs)
    assert token not in flat
    assert "Amina" not in flat
