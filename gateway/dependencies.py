"""FastAPI dependencies shared by all routes: the container, a session, the acting principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from gateway.auth.principal import Principal
from gateway.bootstrap import Container
from gateway.database import RequestSession
from gateway.errors import Unauthorized
from gateway.observability.tracing import tracer

# The dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency
# in the thread pool, a hop through the event loop each, several per request.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_session(container: ContainerDep) -> AsyncIterator[Session]:
    """A session per request; the endpoint commits once, anything unfinished rolls back.

    Opening a session does no I/O (it connects at its first statement); closing one
    that still has a transaction rolls back, which is I/O and goes to the thread pool.
    """
    session = RequestSession(container.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


# Declares the bearer scheme (RFC 6750) in the OpenAPI document, and with it every operation
# that needs a token; the header itself is checked below, so errors stay problem details.
_BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="RFC 9068 access token from /oauth/token.",
)


async def bearer_token(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER_SCHEME)],
) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("A bearer access token is required.", slug="missing-token")
    return value.strip()


def get_principal(
    container: ContainerDep, token: Annotated[str, Depends(bearer_token)]
) -> Principal:
    # Its own read-only transaction, ended here: the endpoint's transaction (on SQLite
    # the write lock) then begins and ends within the endpoint's own thread hop.
    with tracer.start_as_current_span("auth.token_check"), Session(container.reader) as session:
        principal = container.auth.principal(session, bearer=token)
    # Identifiers of the caller, never of the person the request is about.
    structlog.contextvars.bind_contextvars(
        client_id=principal.client_id, organisation_id=principal.organisation_id
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
