"""FastAPI dependencies shared by all routes: the container, a session, the acting principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from gateway.auth.principal import Principal
from gateway.bootstrap import Container
from gateway.errors import Unauthorized
from gateway.observability.tracing import tracer


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    """A session per request; the endpoint commits once, anything unfinished rolls back."""
    with Session(container.engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                session.rollback()


SessionDep = Annotated[Session, Depends(get_session)]


# Declares the bearer scheme (RFC 6750) in the OpenAPI document, and with it every operation
# that needs a token; the header itself is checked below, so errors stay problem details.
_BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="RFC 9068 access token from /oauth/token.",
)


def bearer_token(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER_SCHEME)],
) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("A bearer access token is required.", slug="missing-token")
    return value.strip()


def get_principal(
    container: ContainerDep, session: SessionDep, token: Annotated[str, Depends(bearer_token)]
) -> Principal:
    with tracer.start_as_current_span("auth.token_check"):
        principal = container.auth.principal(session, bearer=token)
    # Identifiers of the caller, never of the person the request is about.
    structlog.contextvars.bind_contextvars(
        client_id=principal.client_id, organisation_id=principal.organisation_id
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
