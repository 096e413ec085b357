"""Finding 11 of issue 15: hostile input answered with a 500.

``parameters`` nested about 900 levels deep overflowed the stack in a
recursive check, and an audit cursor above 2^63 overflowed the database's
integer (API and pages). Now every JSON request body is refused past the
nesting limit of ``gateway.rfc8259`` before anything parses it, the JSON
values the gateway checks are walked without recursion, and integers from
requests are bounded to what a BIGINT holds: a 400 or 422 problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway.bootstrap import Container
from gateway.database import BIGINT_MAX, parse_bigint, unit_of_work
from gateway.queries.schemas import AnswerCreate, QueryCreate
from gateway.rfc8259 import MAX_DEPTH, NestingScanner, nesting_depth
from gateway.web.accounts import PasswordAccounts
from tests.support import Desk, World
from tests.web.pages import PASSWORD, Browser

PROBLEM = "application/problem+json"


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def _too_deep(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/json-too-deep"


# -- nesting -------------------------------------------------------------------------


def test_parameters_and_answers_nested_900_deep_are_a_problem_not_a_500(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    desk.consent()
    _too_deep(desk.ask("benefit_status", "benefit_coordination", parameters={"x": nested(900)}))
    query = desk.ask("benefit_status", "benefit_coordination").json()
    response = client.post(
        f"/v1/queries/{query['id']}/answer",
        json={"answer": {"receives_benefit": nested(900)}},
        headers=desk.staff,
    )
    _too_deep(response)


def _json_body_routes(app: FastAPI) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        body = route.dependant.body_params
        if body and not any(isinstance(p.field_info, params.Form) for p in body):
            path = str(context.path).replace("{", "x").replace("}", "")
            found.update((method, path) for method in route.methods or ())
    return sorted(found)


def test_every_json_body_is_bounded_before_anyone_reads_it(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    routes = _json_body_routes(app)
    assert ("POST", "/v1/queries") in routes
    body = json.dumps(nested(MAX_DEPTH + 1))
    for method, path in routes:
        for content_type in ("application/json", "application/merge-patch+json"):
            response = client.request(
                method, path, content=body, headers={"Content-Type": content_type}
            )
            _too_deep(response)
    # Streamed in small chunks, as a client without Content-Length sends it.
    streamed = json.dumps({"parameters": nested(900)}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(streamed), 7):
            yield streamed[start : start + 7]

    _too_deep(
        client.post("/v1/queries", content=chunks(), headers={"Content-Type": "application/json"})
    )
    _every_integer_parameter_is_bounded_to_bigint(app)


def test_the_scanner_counts_brackets_outside_strings_only() -> None:
    deep = json.dumps(nested(MAX_DEPTH)).encode()
    quoted = json.dumps({"text": "[[[[{{{{" * 100 + '\\"]' + "\\\\", "deep": nested(10)}).encode()
    for text, allowed in ((deep, True), (quoted, True), (b"[" * (MAX_DEPTH + 1), False)):
        for size in (1, 2, 3, len(text)):
            scanner = NestingScanner()
            fed = [scanner.feed(text[i : i + size]) for i in range(0, len(text), size)]
            assert all(fed) is allowed, (text[:40], size)
    assert nesting_depth(nested(MAX_DEPTH)) == MAX_DEPTH
    assert nesting_depth({"a": [], "b": 1}) == 2


def test_the_schemas_refuse_deep_values_without_recursion() -> None:
    deep = nested(5000)  # far past the interpreter's recursion limit
    with pytest.raises(ValidationError, match="nest at most"):
        QueryCreate(subject_id="s", question="q", purpose="p", parameters={"x": deep})
    with pytest.raises(ValidationError, match="nest at most"):
        AnswerCreate(answer={"x": deep})
    assert AnswerCreate(answer={"x": nested(MAX_DEPTH - 1)}).answer


# -- integers beyond BIGINT -----------------------------------------------------------

HOSTILE_CURSORS = (str(2**63), str(2**64), "9" * 30, "²", "١٢", "-1", "1e3", "")


def test_an_audit_cursor_beyond_bigint_is_a_problem_not_a_500(
    client: TestClient, world: World
) -> None:
    dpo = world.case_system.bearer(client, user_id=world.dpo)
    for cursor in HOSTILE_CURSORS:
        response = client.get("/v1/audit/events", params={"cursor": cursor}, headers=dpo)
        assert response.status_code == 400, (cursor, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/invalid-cursor"
    largest = client.get("/v1/audit/events", params={"cursor": str(BIGINT_MAX)}, headers=dpo)
    assert largest.status_code == 200
    assert largest.json()["items"] == []


def _signed_in_dpo(client: TestClient, container: Container, world: World) -> Browser:
    # Cheap argon2 parameters: the hash carries them, so sign-in checks it as cheaply.
    accounts = PasswordAccounts(
        audit=container.audit,
        lockout_attempts=5,
        lockout=timedelta(minutes=15),
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    with unit_of_work(container.engine) as session:
        accounts.set_password(session, user_id=world.dpo, password=PASSWORD)
    assert isinstance(client.app, FastAPI)
    browser = Browser(client.app)
    assert browser.sign_in("dpo@brackenheim.example").status == 303
    return browser


def test_the_audit_pages_refuse_integers_beyond_bigint(
    client: TestClient, container: Container, world: World
) -> None:
    browser = _signed_in_dpo(client, container, world)
    for cursor in HOSTILE_CURSORS:
        if cursor:
            page = browser.get("/web/audit", cursor=cursor)
            assert page.status == 400, cursor
    assert browser.get("/web/audit", cursor=str(BIGINT_MAX)).status == 200
    for seq in (str(2**63), str(2**64), "0"):
        response = browser.http.get(f"/web/audit/events/{seq}")
        assert response.status_code == 422, seq
        assert response.headers["content-type"] == PROBLEM


def _every_integer_parameter_is_bounded_to_bigint(app: FastAPI) -> None:
    unbounded = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        dependants = [route.dependant]
        while dependants:
            dependant = dependants.pop()
            dependants.extend(dependant.dependencies)
            for parameter in (*dependant.path_params, *dependant.query_params):
                if parameter.field_info.annotation not in (int, int | None):
                    continue
                bounds = [getattr(m, "le", None) for m in parameter.field_info.metadata]
                if not any(b is not None and b <= BIGINT_MAX for b in bounds):
                    unbounded.append(f"{context.path} {parameter.name}")
    assert not unbounded, "an integer beyond BIGINT would fail in the database"


def test_parse_bigint() -> None:
    assert parse_bigint("0") == 0
    assert parse_bigint(str(BIGINT_MAX)) == BIGINT_MAX
    for text in HOSTILE_CURSORS:
        assert parse_bigint(text) is None, text
