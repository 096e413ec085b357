"""``/healthz`` (the process is up) and ``/readyz`` (database reachable, keys loaded)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from gateway.dependencies import ContainerDep
from gateway.keys import KeyPurpose, KeyStoreError

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: a check failed."}},
)
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        # The reader: a probe must not queue behind writers for the write lock.
        with container.reader.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        for purpose in KeyPurpose:
            container.keys.active(purpose)
        checks["keys"] = "ok"
    except KeyStoreError:
        checks["keys"] = "missing"
    checks["policies"] = container.policy.version
    ready = checks["database"] == "ok" and checks["keys"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
