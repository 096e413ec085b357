"""A bounded, derandomised Schemathesis run against the ASGI app (SQLite).

Every documented operation gets a few generated requests with the bearer
token of an integration manager. The run fails on any 5xx and on any response
the OpenAPI document does not describe (status code, content type, body).
Bounded (20 examples per operation, about 10 seconds): a smoke test of the contract,
not a fuzzing campaign. The campaign is the slow test below (``make reliability``):
every operation again with the token of each role, at least 1,000 requests in all.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.app import create_app
from gateway.bootstrap import build
from gateway.settings import REPOSITORY_ROOT, Settings
from tests.support import World, make_world

# A deeper run: SCHEMATHESIS_MAX_EXAMPLES=500 .venv/bin/python -m pytest tests/operations
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
# The slow campaign per role; 4 roles x every operation x this many stays above 1,000 requests.
CAMPAIGN_EXAMPLES = int(os.environ.get("SCHEMATHESIS_CAMPAIGN_EXAMPLES", "15"))
CAMPAIGN_MINIMUM = 1000
COMMITTED = REPOSITORY_ROOT / "openapi" / "gateway.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def gateway_app(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    directory = tmp_path_factory.mktemp("schemathesis")
    database = directory / "gateway.db"
    shutil.copyfile(sqlite_template, database)
    container = build(
        Settings(
            env="test",
            data_dir=directory / "data",
            database_url=f"sqlite:///{database}",
            issuer="http://testserver",
        )
    )
    yield create_app(container=container)
    container.close()


@pytest.fixture(scope="module")
def fuzz_world(gateway_app: FastAPI) -> World:
    return make_world(gateway_app.state.container)


@pytest.fixture(scope="module")
def manager_headers(gateway_app: FastAPI, fuzz_world: World) -> dict[str, str]:
    with TestClient(gateway_app) as client:
        return fuzz_world.case_system.bearer(client, user_id=fuzz_world.manager)


@pytest.fixture(scope="module")
def api_schema(gateway_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", gateway_app)


# Collected from the committed document (test_openapi keeps it equal to the app's), so each
# operation is a test of its own; the operation itself is taken from the running app.
OPERATIONS = [
    (path, method)
    for path, operations in yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))["paths"].items()
    for method in operations
]


@pytest.mark.parametrize(
    ("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS]
)
def test_the_operation_keeps_its_contract(
    path: str,
    method: str,
    api_schema: schemathesis.BaseSchema,
    manager_headers: dict[str, str],
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=dict(manager_headers), checks=CHECKS)

    call()


ROLES = ("integration_manager", "jobcenter_staff", "dpo", "operator_dpo")


def _role_headers(app: FastAPI, world: World, role: str) -> dict[str, str]:
    acting = {
        "integration_manager": (world.case_system, world.manager),
        "jobcenter_staff": (world.jobcenter_system, world.staff),
        "dpo": (world.case_system, world.dpo),
        "operator_dpo": (world.operator_client, world.operator_dpo),
    }
    registered, user = acting[role]
    with TestClient(app) as client:
        return registered.bearer(client, user_id=user)


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_a_campaign_per_role_finds_no_server_error_and_nothing_off_contract(
    role: str, gateway_app: FastAPI, api_schema: schemathesis.BaseSchema, fuzz_world: World
) -> None:
    headers = _role_headers(gateway_app, fuzz_world, role)
    calls = 0
    for path, method in OPERATIONS:
        operation = api_schema[path][method]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=CAMPAIGN_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=dict(headers), checks=CHECKS)

        call()
    # Some operations have few distinct inputs (no parameters), so count what was sent.
    assert calls >= CAMPAIGN_MINIMUM // len(ROLES), calls
