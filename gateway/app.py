"""The FastAPI application: routes, error rendering, middleware, background ticks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from gateway import rfc9457
from gateway.admission import AdmissionControl
from gateway.audit import endpoints as audit_endpoints
from gateway.auth import endpoints as auth_endpoints
from gateway.bootstrap import Container, build
from gateway.consents import endpoints as consent_endpoints
from gateway.figures import endpoints as figures_endpoints
from gateway.observability import tracing
from gateway.observability.logging import configure as configure_logging
from gateway.observability.middleware import RequestContextMiddleware
from gateway.openapi import install as install_openapi
from gateway.operations import endpoints as operations_endpoints
from gateway.policy import endpoints as policy_endpoints
from gateway.queries import endpoints as query_endpoints
from gateway.security_headers import SecurityHeaders
from gateway.settings import Settings
from gateway.subjects import endpoints as subject_endpoints
from gateway.web import endpoints as web_endpoints
from gateway.webhooks import endpoints as webhook_endpoints
from gateway.webhooks.dispatcher import WebhookDispatcher

logger = structlog.get_logger(__name__)


def _tick(container: Container) -> None:
    """The scheduler: expiries, checkpoints, delivery retries, deadlines, retention.

    All state lives in the database, so a restart picks up where the last tick stopped.
    Webhooks are not delivered here but by their own dispatcher (``lifespan``): a
    receiver that does not answer must not hold up expiries and deletions.
    """
    with Session(container.engine) as session:
        container.consents.expire_due(session)
        container.audit.checkpoint_if_due(session)
        container.auth.purge_expired(session)
        session.commit()
    container.queries.tick(container.engine)


async def _ticker(container: Container) -> None:
    interval = min(container.settings.audit_checkpoint_seconds / 2, 5.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(_tick, container)
        except Exception as exc:
            logger.warning("background_tick_failed", error_type=type(exc).__name__)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else Settings())
    configure_logging(level=settings.log_level, json_output=settings.log_json)
    container = container or build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        webhooks = WebhookDispatcher.from_settings(
            settings, engine=container.engine, sealer=container.sealer
        )
        webhooks.start(interval=settings.webhook_poll_seconds)
        task = asyncio.create_task(_ticker(container))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # Waits for deliveries in flight, each within its time budget.
            await asyncio.to_thread(webhooks.stop)

    app = FastAPI(
        title="Consent gateway",
        version="0.1.0",
        summary="Consent-centric exchange between municipalities and jobcenters",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.policy_engine = container.policy
    rfc9457.install(app)
    auth_endpoints.install(app)
    app.include_router(subject_endpoints.router)
    app.include_router(consent_endpoints.router)
    app.include_router(query_endpoints.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(audit_endpoints.router)
    app.include_router(policy_endpoints.router)
    app.include_router(operations_endpoints.router)
    app.include_router(figures_endpoints.router)
    web_endpoints.install(app, container)  # the pages for people (gateway.web)
    install_openapi(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_bytes,
        metrics=container.metrics,
    )
    # A request waits for admission before anything else works on it.
    app.add_middleware(
        AdmissionControl,
        limit=settings.max_concurrent_requests,
        timeout_seconds=settings.admission_timeout_seconds,
    )
    # Outermost: the admission's and the body limits' refusals carry the headers too.
    app.add_middleware(
        SecurityHeaders,
        https=settings.issuer.startswith("https://"),
        documentation_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
    )
    tracing.configure_exporter(endpoint=settings.otlp_endpoint)
    tracing.instrument(app=app, engine=container.engine, http=container.http)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text format; counts and labels only, never about a person."""
        return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
