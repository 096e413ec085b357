"""HTTP routes of the authorization server and the caller's own view (``/v1/me``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from gateway.auth import rfc8414
from gateway.auth.rfc6749 import InvalidRequest, OAuthError
from gateway.bootstrap import Container
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (RFC 6749 section 3.2); repeats refused."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form body is malformed") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequest(f"parameter '{key}' is repeated")
        form[key] = value
    return form


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="gateway"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _oauth_call(
    request: Request,
    container: Container,
    session: Session,
    call: Callable[[dict[str, str]], Any],
) -> Any:
    form = await read_form(request)

    def run() -> Any:
        # A client's jwks_uri is fetched (when the cache cannot serve) before ``session``
        # begins its transaction: waiting on the network inside it held the SQLite write
        # lock for every request of the gateway (issue 15, finding 9).
        with Session(container.reader) as reading:
            wanted = container.auth.keys_to_prefetch(reading, form=form)
        if wanted is not None:
            container.auth.prefetch_client_keys(wanted)
        result = call(form)
        session.commit()
        return result

    # Database work and signatures are blocking; keep them off the event loop.
    return await run_in_threadpool(run)


@router.post("/oauth/token", tags=["oauth"])
async def token(request: Request, container: ContainerDep, session: SessionDep) -> JSONResponse:
    authorization = request.headers.get("authorization")
    body = await _oauth_call(
        request,
        container,
        session,
        lambda form: container.auth.token(
            session, form=form, authorization=authorization, trace_id=request.state.trace_id
        ),
    )
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/introspect", tags=["oauth"])
async def introspect(
    request: Request, container: ContainerDep, session: SessionDep
) -> JSONResponse:
    authorization = request.headers.get("authorization")
    body = await _oauth_call(
        request,
        container,
        session,
        lambda form: container.auth.introspect(session, form=form, authorization=authorization),
    )
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/revoke", tags=["oauth"])
async def revoke(request: Request, container: ContainerDep, session: SessionDep) -> Response:
    authorization = request.headers.get("authorization")
    await _oauth_call(
        request,
        container,
        session,
        lambda form: container.auth.revoke(
            session, form=form, authorization=authorization, trace_id=request.state.trace_id
        ),
    )
    return Response(status_code=200, headers=NO_STORE)


@router.get("/.well-known/oauth-authorization-server", tags=["oauth"])
def authorization_server_metadata(container: ContainerDep) -> dict[str, Any]:
    return rfc8414.metadata(container.settings)


@router.get("/.well-known/jwks.json", tags=["oauth"])
def jwks(container: ContainerDep) -> JSONResponse:
    return JSONResponse(container.keys.jwks(), headers={"Cache-Control": "max-age=300"})


@router.get("/v1/me", tags=["oauth"])
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    """Who the access token speaks for: handy to check a client's set-up."""
    return {
        "client_id": principal.client_id,
        "organisation_id": principal.organisation_id,
        "user_id": principal.user_id,
        "role": principal.role.value if principal.role else None,
        "scope": " ".join(sorted(scope.value for scope in principal.scopes)),
        "expires_at": principal.expires_at.isoformat(),
    }


def install(app: FastAPI) -> None:
    async def on_oauth_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OAuthError)
        return _oauth_error(exc)

    app.add_exception_handler(OAuthError, on_oauth_error)
    app.include_router(router)
