"""OpenTelemetry tracing: the tracer the services use, and wiring of the instrumentations.

Spans carry identifiers and decisions only (query id, question type, reason
codes), never names, birth dates, customer numbers or answers. The OTLP
exporter is switched on by ``GATEWAY_OTLP_ENDPOINT``; without it spans are
still created (so W3C ``traceparent`` flows to adapters) but not exported, and
SQL statements get no spans of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.engine import Engine

tracer = trace.get_tracer("gateway")

# Paths carry credentials (the one-time confirmation token, the self-service code) and
# query strings may too. A server span names its route template instead, for every
# route, so no list of "secret" routes can fall behind the route table.
UNMATCHED = "{unmatched}"
REDACTED = "{redacted}"


def _template_url(url: str, template: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, template, "", ""))


def _redact_server_span(span: trace.Span, scope: Mapping[str, Any]) -> None:
    """Put the route template where the FastAPI instrumentation copied the request's path.

    The instrumentation found the route (``http.route``, also the span's name)
    before this hook runs; a request no route matched gets a placeholder, since
    its path may be a credential with a typo.
    """
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    if not span.is_recording() or not attributes:
        return
    template = str(attributes.get("http.route") or UNMATCHED)
    for key in ("http.target", "url.path"):
        if key in attributes:
            span.set_attribute(key, template)
    for key in ("http.url", "url.full"):
        if key in attributes:
            span.set_attribute(key, _template_url(str(attributes[key]), template))
    if "url.query" in attributes:
        span.set_attribute("url.query", REDACTED)


def _redact_client_span(span: trace.Span, _request: Any) -> None:
    """Outbound calls keep scheme, host and port: a webhook receiver's URL often holds
    its secret in the path or the query."""
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    if not span.is_recording():
        return
    for key in ("http.url", "url.full"):
        if key in attributes:
            span.set_attribute(key, _template_url(str(attributes[key]), "/" + REDACTED))


def configure_exporter(*, endpoint: str | None, service_name: str = "consent-gateway") -> None:
    """Install a tracer provider with an OTLP exporter, once per process, when configured."""
    if endpoint is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)


def instrument(*, app: FastAPI, engine: Engine, http: httpx.Client) -> None:
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls="healthz,readyz,metrics",
        server_request_hook=_redact_server_span,
    )
    HTTPXClientInstrumentor().instrument_client(http, request_hook=_redact_client_span)
    # A span per SQL statement costs two event hooks per statement (an ask runs about
    # twenty); without a tracer provider that records, those spans go nowhere.
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        # The instrumentation declares SQLAlchemy < 2.1 but uses only the stable event
        # API; the span test proves statement spans still appear.
        SQLAlchemyInstrumentor().instrument(
            engine=engine, enable_commenter=False, skip_dep_check=True
        )


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to hand to an adapter."""
    carrier: dict[str, Any] = {}
    propagate.inject(carrier)
    value = carrier.get("traceparent")
    return str(value) if value else None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
