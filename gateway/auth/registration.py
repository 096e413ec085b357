"""Registering OAuth clients (case systems, jobcenter systems) by the operator."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.auth import repository
from gateway.auth.client_keys import parse_jwks
from gateway.auth.models import ClientAuthMethod, OAuthClient
from gateway.auth.scopes import Scope, format_scopes
from gateway.auth.service import hash_secret
from gateway.errors import BadRequest, NotFound
from gateway.ids import new_id
from gateway.organisations import repository as organisations


def add_client(
    session: Session,
    *,
    audit: AuditTrail,
    organisation_id: str,
    name: str,
    scopes: str,
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    secret_basic: bool = False,
    production: bool = False,
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and, for ``client_secret_basic`` only, the new secret."""
    if organisations.get_organisation(session, organisation_id) is None:
        raise NotFound(f"Organisation {organisation_id} does not exist.")
    unknown = [item for item in scopes.split() if item not in Scope._value2member_map_]
    if unknown or not scopes.split():
        raise BadRequest(
            f"Unknown or missing scopes: {' '.join(unknown) or '(none)'}; "
            f"known: {' '.join(s.value for s in Scope)}",
            slug="invalid-scope",
        )
    chosen = [option for option in (jwks, jwks_uri) if option is not None]
    secret: str | None = None
    if secret_basic:
        if production:
            raise BadRequest("client_secret_basic is for development only.", slug="insecure")
        if chosen:
            raise BadRequest("A client_secret_basic client has no keys.", slug="invalid-client")
        method = ClientAuthMethod.CLIENT_SECRET_BASIC
        secret = secrets.token_urlsafe(32)
    else:
        if len(chosen) != 1:
            raise BadRequest("Give exactly one of a JWK Set or a jwks_uri.", slug="invalid-client")
        method = ClientAuthMethod.PRIVATE_KEY_JWT
        if jwks is not None:
            try:
                parse_jwks(jwks)
            except ValueError as exc:
                raise BadRequest(str(exc), slug="invalid-jwks") from exc
        if jwks_uri is not None:
            _check_jwks_uri(jwks_uri, production=production)
    client = OAuthClient(
        id=new_id("cli"),
        organisation_id=organisation_id,
        name=" ".join(name.split())[:200] or "client",
        auth_method=method,
        jwks=json.dumps(jwks) if jwks is not None else None,
        jwks_uri=jwks_uri,
        secret_hash=hash_secret(secret) if secret else None,
        scopes=format_scopes({Scope(item) for item in scopes.split()}),
    )
    repository.add_client(session, client)
    audit.record(
        session,
        AuditEvent(
            type="client.added",
            actor=Actor(organisation_id=organisation_id),
            details={"client": client.id, "auth_method": method.value, "scope": client.scopes},
        ),
    )
    return client, secret


def set_enabled(
    session: Session, *, audit: AuditTrail, client_id: str, enabled: bool
) -> OAuthClient:
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"Client {client_id} does not exist.")
    client.enabled = enabled
    session.add(client)
    audit.record(
        session,
        AuditEvent(
            type="client.enabled" if enabled else "client.disabled",
            actor=Actor(organisation_id=client.organisation_id),
            details={"client": client.id},
        ),
    )
    return client


def _check_jwks_uri(uri: str, *, production: bool) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and not production):
        raise BadRequest("jwks_uri must be an https:// URL.", slug="invalid-jwks-uri")
    if not parts.hostname:
        raise BadRequest("jwks_uri has no host.", slug="invalid-jwks-uri")


def public_view(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.id,
        "organisation_id": client.organisation_id,
        "name": client.name,
        "token_endpoint_auth_method": client.auth_method.value,
        "jwks_uri": client.jwks_uri,
        "jwks": json.loads(client.jwks) if client.jwks else None,
        "scope": client.scopes,
        "enabled": client.enabled,
        "created_at": client.created_at.isoformat(),
    }
