"""Composition root: builds the gateway's parts from settings, once per process.

Routes and CLI commands get their collaborators from here; tests build a
``Container`` against their own database and data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.engine import Engine

from gateway.audit.service import AuditTrail
from gateway.auth.client_keys import ClientKeyResolver
from gateway.auth.service import AuthorizationServer
from gateway.consents.service import ConsentService
from gateway.consents.texts import ConsentTexts
from gateway.database import create_db_engine
from gateway.keys import KeyStore
from gateway.policy.engine import PolicyEngine
from gateway.sealing import Sealer
from gateway.settings import Settings


@dataclass
class Container:
    settings: Settings
    engine: Engine
    keys: KeyStore
    audit: AuditTrail
    auth: AuthorizationServer
    http: httpx.Client
    policy: PolicyEngine
    sealer: Sealer
    consent_texts: ConsentTexts
    consents: ConsentService

    def close(self) -> None:
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
    consents = ConsentService(
        engine=policy,
        texts=texts,
        sealer=sealer,
        audit=audit,
        max_validity_days=settings.consent_max_validity_days,
        confirmation_ttl=timedelta(hours=settings.consent_confirmation_hours),
    )
    return Container(
        settings=settings,
        engine=engine,
        keys=keys,
        audit=audit,
        auth=auth,
        http=client,
        policy=policy,
        sealer=sealer,
        consent_texts=texts,
        consents=consents,
    )
