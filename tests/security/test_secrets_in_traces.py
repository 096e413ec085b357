"""Finding 10 of issue 15: a one-time confirmation token reached traces.

``/v1/confirmations/{token}`` was missing from a hand-kept list of paths to
redact, so whoever read the traces could confirm a pending consent in the
person's name. Now every server span carries route templates, for every
route: the test walks the application's route table, puts a value no one
else could produce into every path parameter, and looks for it in every span
and every log line. Outbound calls keep only scheme, host and port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

from gateway.bootstrap import Container
from tests.observability.spans import captured_spans, recorded
from tests.support import Desk, World


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with the secret values in place
    template: str | None  # what the server span and the log must name instead
    secrets: tuple[str, ...]


def _integer_parameters(route: Any) -> set[str]:
    if not isinstance(route, APIRoute):
        return set()
    return {p.name for p in route.dependant.path_params if p.field_info.annotation is int}


def calls_with_secrets_in_the_path(app: FastAPI) -> list[Call]:
    """One call per method of every route with a path parameter, each parameter filled
    with a value of its own (digits where the route wants an integer)."""
    calls: list[Call] = []
    for context in iter_route_contexts(app.routes):
        names = list(context.param_convertors)
        if not names:
            continue
        integers = _integer_parameters(context.original_route)
        path = str(context.path_format)
        secrets: list[str] = []
        for name in names:
            n = len(calls) * 10 + len(secrets)
            value = str(7_301_000_000 + n) if name in integers else f"Geheim-{n:04d}-{name}"
            secrets.append(value)
            path = path.replace("{" + name + "}", value)
        api_route = isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or {"GET"}):
            if method != "HEAD":
                template = str(context.path) if api_route else None
                calls.append(Call(method, path, template, tuple(secrets)))
    return calls


def test_no_path_parameter_reaches_a_span_or_a_log_line(
    exporter: InMemorySpanExporter, client: TestClient
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    calls = calls_with_secrets_in_the_path(app)
    assert {"/v1/confirmations/{token}", "/v1/self-service/{code}", "/confirm/{token}"} <= {
        call.template for call in calls
    }, "the route table was read"
    exporter.clear()
    with capture_logs() as logs:
        for call in calls:
            client.request(call.method, call.path, json={} if call.method != "GET" else None)
    spans = exporter.get_finished_spans()
    seen = recorded(spans)
    logged = json.dumps(logs, default=str)
    for call in calls:
        for secret in call.secrets:
            assert secret not in seen, f"{call.method} {call.template}: {secret} in a span"
            assert secret not in logged, f"{call.method} {call.template}: {secret} in the log"
    servers = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    targets = {(s.attributes or {}).get("http.target") for s in servers}
    routes = {entry.get("route") for entry in logs if entry.get("event") == "request"}
    for call in calls:
        if call.template is not None:
            assert call.template in targets, f"{call.template} is not on its span"
            assert call.template in routes, f"{call.template} is not in the request log"


def test_a_real_confirmation_token_stays_out_of_the_trace(
    exporter: InMemorySpanExporter, client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent(evidence={"channel": "own_phone"})
    token = consent["confirmation_url"].rsplit("/", 1)[1]
    exporter.clear()
    with capture_logs() as logs:
        assert client.get(f"/v1/confirmations/{token}").status_code == 200
        assert client.post(f"/v1/confirmations/{token}").status_code == 200
    spans = exporter.get_finished_spans()
    assert token not in recorded(spans)
    assert token not in json.dumps(logs, default=str)
    names = {s.name for s in spans if s.kind == trace.SpanKind.SERVER}
    assert names == {"GET /v1/confirmations/{token}", "POST /v1/confirmations/{token}"}


def test_outbound_calls_name_the_host_only(
    exporter: InMemorySpanExporter, container: Container, client: TestClient
) -> None:
    # A webhook receiver's URL commonly carries its secret (Slack-style hooks).
    url = "https://receiver.example:8443/hooks/T0001/Hook-Secret-77?token=Query-Secret-78"
    exporter.clear()
    with respx.mock(assert_all_called=True) as mock:
        mock.post(url).mock(return_value=httpx.Response(204))
        container.http.post(url, json={})
    spans = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert spans, "the gateway's HTTP client is instrumented"
    seen = recorded(tuple(spans))
    assert "Hook-Secret-77" not in seen
    assert "Query-Secret-78" not in seen
    assert "https://receiver.example:8443/" in seen
