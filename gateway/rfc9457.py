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
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError
from gateway.observability.middleware import JsonTooDeep, route_template

MEDIA_TYPE = "application/problem+json"
# RFC 9457 section 3.1: the members every problem has. An extension may not take their
# names (a domain error's ``status="active"`` would replace the HTTP status code).
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
# Seconds a client should wait before retrying while the database is unreachable
# (RFC 9110 section 10.2.3): about what a failover or a restart of the database takes.
DATABASE_RETRY_AFTER_SECONDS = 5
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
        **{name: value for name, value in exc.extensions.items() if name not in STANDARD_MEMBERS},
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


async def _on_json_too_deep(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JsonTooDeep)
    return problem_response(
        status=400,
        slug="json-too-deep",
        title="JSON nested too deeply",
        detail=str(exc.detail),
        instance=request.url.path,
    )


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "not reachable now" rather than a fault in the request.

    Refused or reset connections and server shutdowns surface as ``OperationalError``
    (or an error that invalidated its connection); a pool with no connection to hand out
    raises ``sqlalchemy.exc.TimeoutError``. Constraint and programming errors stay 500.
    """
    if isinstance(exc, sa.TimeoutError | sa.InvalidatePoolError):
        return True
    if isinstance(exc, sa.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.OperationalError | sa.InterfaceError
        )
    return False


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if not database_unavailable(exc):
        raise exc  # a fault, not an outage: the catch-all below renders and reports it
    # The driver's message names host and port; neither goes to the client or the logs, nor
    # does the path (it may hold a credential): the route template does.
    logger.warning(
        "database_unavailable", error_type=type(exc).__name__, route=route_template(request.scope)
    )
    return problem_response(
        status=503,
        slug="database-unavailable",
        title="Service unavailable",
        # Not "nothing was changed": a commit may have landed before the connection broke.
        # A retry with the same Idempotency-Key is answered by what was stored, if anything.
        detail="The gateway cannot reach its database. Try again shortly.",
        instance=request.url.path,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled_error", error_type=type(exc).__name__, route=route_template(request.scope)
    )
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
    app.add_exception_handler(JsonTooDeep, _on_json_too_deep)
    app.add_exception_handler(sa.SQLAlchemyError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
