"""RFC 9457 problem details: the one place where errors become HTTP responses.

https://www.rfc-editor.org/rfc/rfc9457 — every error a user sees is
``application/problem+json`` with a stable ``type`` per cause (a relative URI
``/problems/<slug>``, resolvable against the gateway), never a stack trace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError

MEDIA_TYPE = "application/problem+json"
logger = structlog.get_logger(__name__)


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        # A URI reference (RFC 9457 section 3.1.5): request paths arrive percent-decoded.
        body["instance"] = quote(instance, safe="/:@!$&'()*+,;=")
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Pydantic echoes the offending input; it may be personal data, so only the
    # location and the message go back (and nothing goes to the logs).
    return [
        {"location": [str(part) for part in error.get("loc", ())], "message": error.get("msg")}
        for error in exc.errors()
    ]


async def _on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    headers = {"WWW-Authenticate": 'Bearer realm="gateway"'} if exc.status == 401 else None
    return problem_response(
        status=exc.status,
        slug=exc.type_slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        headers=headers,
        **exc.extensions,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return problem_response(
            status=400,
            slug="malformed-json",
            title="Malformed JSON body",
            detail="The request body is not valid JSON.",
            instance=request.url.path,
        )
    return problem_response(
        status=422,
        slug="validation-error",
        title="The request does not match the expected schema",
        detail=f"{len(errors)} field(s) are invalid.",
        instance=request.url.path,
        errors=errors,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    return problem_response(
        status=exc.status_code,
        slug=phrase.lower().replace(" ", "-"),
        title=phrase,
        detail=str(exc.detail) if exc.detail and exc.detail != phrase else None,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled_error", error_type=type(exc).__name__, path=request.url.path)
    return problem_response(
        status=500,
        slug="internal-error",
        title="Internal error",
        detail="The gateway could not complete the request; nothing was changed.",
        instance=request.url.path,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _on_gateway_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
