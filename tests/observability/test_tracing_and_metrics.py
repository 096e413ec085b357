"""One trace per query across token check, consent, policy, audit and adapter; metrics;
and the whole story leaves no personal data in logs, spans or metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

from tests.observability.spans import captured_spans, recorded
from tests.support import Desk, World

SECRETS = ("Yusuf", "Demir", "1995-07-01", "JC-4711-0815", "2027-03-31", "approved_until")


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


def _tree(spans: tuple[ReadableSpan, ...], root: ReadableSpan) -> set[str]:
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None:
            children.setdefault(span.parent.span_id, []).append(span)
    names: set[str] = set()
    stack = [root]
    while stack:
        span = stack.pop()
        names.add(span.name)
        stack.extend(children.get(span.context.span_id, []))
    return names


def test_one_query_is_one_trace(
    client: TestClient, world: World, exporter: InMemorySpanExporter
) -> None:
    desk = Desk(client, world)
    desk.consent()
    exporter.clear()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = client.post(
        "/v1/queries",
        json={
            "subject_id": desk.subject,
            "question": "benefit_status",
            "purpose": "benefit_coordination",
        },
        headers={**desk.manager, "Idempotency-Key": "trace-1", "traceparent": traceparent},
    )
    assert response.status_code == 201
    spans = exporter.get_finished_spans()
    roots = [
        s
        for s in spans
        if s.name.startswith("POST /v1/queries") and s.kind == trace.SpanKind.SERVER
    ]
    assert len(roots) == 1
    root = roots[0]
    assert f"{root.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c", (
        "inbound trace continued"
    )
    names = _tree(spans, root)
    for expected in (
        "auth.token_check",
        "consent.check",
        "policy.decide",
        "audit.append",
        "adapter.deliver",
    ):
        assert expected in names, expected
    statements = [s for s in spans if (s.attributes or {}).get("db.system")]
    assert statements, "the SQLAlchemy instrumentation records statements"
    decide = next(s for s in spans if s.name == "policy.decide")
    assert decide.attributes is not None
    assert decide.attributes["policy.allowed"] is True


def test_the_story_leaves_no_personal_data_in_logs_spans_or_metrics(
    client: TestClient, world: World, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    with capture_logs() as logs:
        desk = Desk(client, world)
        client.post(
            "/v1/subjects",
            json={
                "given_name": "Yusuf",
                "family_name": "Demir",
                "birth_date": "1995-07-01",
                "jobcenter_customer_number": "JC-4711-0815",
            },
            headers=desk.manager,
        )
        desk.consent()
        query = desk.ask("benefit_status", "benefit_coordination").json()
        client.get(f"/v1/queries/{query['id']}", headers=desk.staff)
        client.post(
            f"/v1/queries/{query['id']}/answer",
            json={"answer": {"receives_benefit": True, "approved_until": "2027-03-31"}},
            headers=desk.staff,
        )
        read = client.get(f"/v1/queries/{query['id']}", headers=desk.manager).json()
        assert read["answer"]["approved_until"] == "2027-03-31"
        metrics = client.get("/metrics").text
    spans = recorded(exporter.get_finished_spans())
    logged = json.dumps(logs, default=str)
    for secret in SECRETS:
        assert secret not in logged, f"{secret} in logs"
        assert secret not in spans, f"{secret} in spans"
        assert secret not in metrics, f"{secret} in metrics"
    assert 'gateway_requests_total{method="POST",route="/v1/queries",status="201"}' in metrics
    assert 'gateway_policy_decisions_total{action="ask",decision="permit",reason="none"}' in metrics
    assert "gateway_adapter_call_duration_seconds_count" in metrics
    assert "gateway_webhook_outbox_depth" in metrics
    assert "gateway_queries_past_deadline 0.0" in metrics


def test_credentials_in_paths_and_query_strings_never_reach_spans(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()
    code = "ABCD-EFGH-JKMN-PQRS"
    client.get(f"/self-service/{code}")
    client.get(f"/v1/self-service/{code}")
    client.get("/confirm/one-time-token-4711")
    client.get("/v1/confirmations/one-time-token-4712/typo")
    client.get("/v1/catalogue", params={"code": "QUERY-SECRET-42"})
    spans = exporter.get_finished_spans()
    assert spans
    seen = recorded(spans)
    for secret in (code, "one-time-token-4711", "one-time-token-4712", "QUERY-SECRET-42"):
        assert secret not in seen
    servers = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    paths = {(s.attributes or {}).get("http.target") for s in servers}
    assert {"/self-service/{code}", "/v1/self-service/{code}", "/confirm/{token}"} <= paths
    assert "{unmatched}" in paths, "a path no route matched is not recorded either"
