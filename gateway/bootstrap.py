"""Composition root: builds the gateway's parts from settings, once per process.

Routes and CLI commands get their collaborators from here; tests build a
``Container`` against their own database and data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import httpx
from sqlalchemy.engine import Engine

from adapters.base import InboxAdapter, JobcenterAdapter
from adapters.registry import AdapterRegistry, InProcessSimulator
from adapters.rest import RestAdapter, RestAdapterSettings
from gateway.access.guard import AccessGuard
from gateway.audit.service import AuditTrail
from gateway.auth.client_keys import ClientKeyResolver
from gateway.auth.service import AuthorizationServer
from gateway.consents.service import ConsentService
from gateway.consents.texts import ConsentTexts
from gateway.consents.verification import ConsentVerification
from gateway.database import create_db_engine, reader
from gateway.keys import KeyStore
from gateway.observability.gauges import operational_gauges
from gateway.observability.metrics import Metrics
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import AdapterKind
from gateway.queries.service import QueryService
from gateway.sealing import Sealer
from gateway.settings import Settings
from gateway.webhooks.service import WebhookService


@dataclass
class Container:
    settings: Settings
    engine: Engine
    keys: KeyStore
    audit: AuditTrail
    auth: AuthorizationServer
    http: httpx.Client
    policy: PolicyEngine
    guard: AccessGuard
    sealer: Sealer
    consent_texts: ConsentTexts
    consents: ConsentService
    verification: ConsentVerification
    webhooks: WebhookService
    adapters: AdapterRegistry
    queries: QueryService
    callback_secrets: dict[str, str]
    metrics: Metrics

    @cached_property
    def reader(self) -> Engine:
        """The engine for transactions that only read (``database.reader``)."""
        return reader(self.engine)

    def close(self) -> None:
        self.adapters.close()
        self.http.close()
        self.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def build(settings: Settings, *, http: httpx.Client | None = None) -> Container:
    keys = KeyStore(settings.resolved_keys_dir, production=settings.is_production)
    keys.ensure()
    engine = create_db_engine(settings.resolved_database_url)
    audit = AuditTrail(
        keys=keys,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
    )
    client = http or httpx.Client(follow_redirects=False)
    auth = AuthorizationServer(
        settings=settings,
        keys=keys,
        client_keys=ClientKeyResolver(http=client, cache_seconds=settings.jwks_uri_cache_seconds),
        audit=audit,
    )
    policy = PolicyEngine.load(settings.policies_dir)
    sealer = Sealer(keys)
    texts = ConsentTexts.load(settings.policies_dir / "consent-texts", catalogue=policy.catalogue)
    webhooks = WebhookService(
        sealer=sealer,
        http=client,
        max_attempts=settings.webhook_max_attempts,
        backoff_base=timedelta(seconds=settings.webhook_backoff_seconds),
        allow_http_loopback=not settings.is_production,
    )
    guard = AccessGuard(engine=policy)
    consents = ConsentService(
        engine=policy,
        guard=guard,
        texts=texts,
        sealer=sealer,
        audit=audit,
        webhooks=webhooks,
        confirmation_ttl=timedelta(hours=settings.consent_confirmation_hours),
    )
    verification = ConsentVerification(
        consents=consents,
        sealer=sealer,
        audit=audit,
        ttl=timedelta(minutes=settings.consent_verification_minutes),
        per_hour=settings.consent_verification_codes_per_hour,
        lockout_attempts=settings.consent_verification_lockout_attempts,
        lockout_duration=timedelta(minutes=settings.consent_verification_lockout_minutes),
    )
    registry = build_adapters(settings, policy)
    queries = QueryService(
        engine=policy,
        guard=guard,
        consents=consents,
        sealer=sealer,
        audit=audit,
        adapters=registry,
        webhooks=webhooks,
        issuer=settings.issuer,
        retry_base=timedelta(seconds=settings.adapter_retry_seconds),
    )
    consents.on_end.append(queries.on_consent_end)
    metrics = Metrics()
    queries.metrics = metrics
    metrics.watch_database(lambda: operational_gauges(engine))
    return Container(
        settings=settings,
        engine=engine,
        keys=keys,
        audit=audit,
        auth=auth,
        http=client,
        policy=policy,
        guard=guard,
        sealer=sealer,
        consent_texts=texts,
        consents=consents,
        verification=verification,
        webhooks=webhooks,
        adapters=registry,
        queries=queries,
        metrics=metrics,
        callback_secrets={
            key: secret.get_secret_value()
            for key, secret in settings.adapter_callback_secrets.items()
        },
    )


def build_adapters(settings: Settings, policy: PolicyEngine) -> AdapterRegistry:
    """One adapter per jobcenter named in ``policies/routing.yaml``; the rest use the inbox.

    ``simulator`` answers in process unless ``GATEWAY_SIMULATOR_URL`` names a
    running simulator, which is then reached like a real jobcenter: the rest
    adapter over mutual TLS with the certificates in ``GATEWAY_ADAPTER_CERTS_DIR``.
    """
    adapters: dict[str, JobcenterAdapter] = {}
    for key, jobcenter in policy.routing.jobcenters.items():
        if jobcenter.adapter is AdapterKind.INBOX:
            adapters[key] = InboxAdapter()
        elif jobcenter.adapter is AdapterKind.SIMULATOR and settings.simulator_url is None:
            adapters[key] = InProcessSimulator()
        else:
            endpoint = (
                settings.simulator_url
                if jobcenter.adapter is AdapterKind.SIMULATOR
                else jobcenter.endpoint
            )
            assert endpoint is not None  # routing.yaml requires an endpoint for rest
            adapters[key] = RestAdapter(
                jobcenter_key=key,
                settings=RestAdapterSettings(
                    base_url=endpoint,
                    client_cert=settings.adapter_certs_dir / "client-gateway-client.pem",
                    client_key=settings.adapter_certs_dir / "client-gateway-client-key.pem",
                    ca_bundle=settings.adapter_certs_dir / "ca.pem",
                    callback_secret=settings.adapter_callback_secrets.get(key),
                ),
            )
    return AdapterRegistry(adapters)
