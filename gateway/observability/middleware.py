"""ASGI middleware: request id, W3C trace context, body limits, one access log line.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming bodies are counted as
they arrive and an oversized body is refused before it is read whole; a JSON
body nested deeper than ``gateway.rfc8259`` allows is refused the same way.
The log line and the metrics name the route template, never the path: paths
carry one-time confirmation tokens and self-service codes.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observability.metrics import Metrics
from gateway.observability.tracing import current_trace_id
from gateway.rfc8259 import MAX_DEPTH, NestingScanner

logger = structlog.get_logger("gateway.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# W3C Trace Context: version-traceid-parentid-flags.
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


UNMATCHED = "unmatched"


class _BodyTooLarge(Exception):
    pass


class JsonTooDeep(HTTPException):
    """A JSON body nested deeper than the limit (rendered by ``gateway.rfc9457``).

    An ``HTTPException`` because FastAPI passes those on when raised while it
    reads the body; any other error there becomes a generic 400.
    """

    def __init__(self) -> None:
        super().__init__(400, f"The JSON body nests deeper than {MAX_DEPTH} levels.")


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/v1/confirmations/{token}``), for logs
    and metrics: never the path, whose segments may be credentials."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or UNMATCHED)


def _is_json(scope: Scope) -> bool:
    # FastAPI parses a body without a content type as JSON too.
    media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return media_type in ("", "application/json") or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else secrets.token_hex(12)
        # The OpenTelemetry server span (outside this middleware) knows the trace; without
        # one, a valid inbound traceparent or a fresh id keeps logs correlatable.
        traceparent = _TRACEPARENT.match(_header(scope, b"traceparent") or "")
        trace_id = (
            current_trace_id()
            or (traceparent.group(1) if traceparent else None)
            or secrets.token_hex(16)
        )
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["trace_id"] = trace_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)

        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, request_id)
            self._log(scope, 413, time.perf_counter())
            return

        started = time.perf_counter()
        status = 500
        received = 0
        nesting = NestingScanner() if _is_json(scope) else None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
                if nesting is not None and not nesting.feed(body):
                    raise JsonTooDeep
            return message

        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counting_receive, send_with_id)
        except _BodyTooLarge:
            if not response_started:
                await self._too_large(send, request_id)
            status = 413
        finally:
            self._log(scope, status, started)

    def _log(self, scope: Scope, status: int, started: float) -> None:
        # Neither the path nor the query string is logged: both may hold credentials.
        template = route_template(scope)
        seconds = time.perf_counter() - started
        logger.info(
            "request",
            method=scope.get("method"),
            route=template,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
        if self.metrics is not None:
            self.metrics.request(
                method=str(scope.get("method")), route=template, status=status, seconds=seconds
            )

    async def _too_large(self, send: Send, request_id: str) -> None:
        body = json.dumps(
            {
                "type": "/problems/payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"The request body exceeds {self.max_body_bytes} bytes.",
            }
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"x-request-id", request_id.encode("ascii")),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
