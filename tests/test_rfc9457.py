"""Problem details as rendered by ``gateway.rfc9457``: standard members, database outages."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa

from gateway import rfc9457
from gateway.errors import Conflict


def _app(error: Exception) -> TestClient:
    app = FastAPI()
    rfc9457.install(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def test_an_extension_cannot_replace_a_standard_member() -> None:
    client = _app(Conflict("A active consent is not paused.", status="active", reason="x"))
    response = client.get("/fail")
    assert response.status_code == 409
    assert response.json()["status"] == 409
    assert response.json()["reason"] == "x"


@pytest.mark.parametrize(
    "error",
    [
        sa.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")),
        sa.InterfaceError("SELECT 1", {}, OSError("closed")),
        sa.TimeoutError("QueuePool limit reached"),
        sa.DBAPIError("SELECT 1", {}, OSError("reset"), connection_invalidated=True),
    ],
    ids=["operational", "interface", "pool-timeout", "invalidated"],
)
def test_an_unreachable_database_is_a_503_with_retry_after(error: Exception) -> None:
    response = _app(error).get("/fail")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(rfc9457.DATABASE_RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["type"] == "/problems/database-unavailable"
    assert "refused" not in body["detail"]
    assert "SELECT" not in body["detail"]


def test_a_fault_in_the_request_stays_a_500() -> None:
    error = sa.IntegrityError("INSERT", {}, ValueError("duplicate key"))
    response = _app(error).get("/fail")
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal-error"
