"""The authorization server's rules: who gets which token, and which tokens are honoured.

Endpoints hand over the form fields and the ``Authorization`` header; this
module authenticates the client (RFC 7523 ``private_key_jwt``, or
``client_secret_basic`` when enabled for development), runs the grant
(``client_credentials`` or the RFC 7523 JWT bearer grant acting for one of the
client's organisation's users), issues RFC 9068 access tokens, and answers
introspection (RFC 7662) and revocation (RFC 7009).

A client whose keys sit behind a ``jwks_uri`` may need them fetched: the
endpoint asks ``keys_to_prefetch`` in a read-only transaction and calls
``prefetch_client_keys`` with no transaction open, before the grant runs
(``gateway.auth.client_keys`` says why and how often).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.auth import repository, revocation, rfc7523, rfc9068
from gateway.auth.client_keys import (
    ClientKeyResolver,
    ClientKeysUnavailable,
    FetchLimits,
    KeysWanted,
)
from gateway.auth.models import ClientAuthMethod, OAuthClient
from gateway.auth.principal import Principal
from gateway.auth.rfc6749 import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedTokenType,
)
from gateway.auth.scopes import Scope, format_scopes
from gateway.clock import utcnow
from gateway.errors import Unauthorized
from gateway.keys import KeyStore
from gateway.organisations import repository as organisations
from gateway.organisations.models import Role
from gateway.settings import Settings

CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (CLIENT_CREDENTIALS, rfc7523.JWT_BEARER_GRANT)

# What each role may ever be granted, whatever its client may do.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.INTEGRATION_MANAGER: frozenset(
        {Scope.CONSENTS_READ, Scope.CONSENTS_WRITE, Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}
    ),
    Role.JOBCENTER_STAFF: frozenset(
        {Scope.CONSENTS_READ, Scope.CONSENTS_WRITE, Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}
    ),
    Role.DPO: frozenset({Scope.AUDIT_READ, Scope.CONSENTS_READ}),
    Role.ADMIN: frozenset(Scope),
}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuthenticatedClient:
    client: OAuthClient
    method: ClientAuthMethod


class AuthorizationServer:
    def __init__(
        self,
        *,
        settings: Settings,
        keys: KeyStore,
        client_keys: ClientKeyResolver,
        audit: AuditTrail,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._client_keys = client_keys
        self._audit = audit
        self._validated = rfc9068.ValidatedTokens()
        # Tokens honoured here must stay revoked once their client or user was disabled.
        revocation.install()
        self._fetch_limits = FetchLimits(
            refetch_seconds=settings.jwks_uri_refetch_seconds,
            timeout_seconds=settings.jwks_uri_fetch_timeout_seconds,
        )

    @property
    def _audiences(self) -> list[str]:
        return [self._settings.token_endpoint, self._settings.issuer]

    # -- keys behind a jwks_uri, fetched before any transaction ------------------

    def keys_to_prefetch(self, session: Session, *, form: Mapping[str, str]) -> KeysWanted | None:
        """The ``jwks_uri`` and key ids this request's assertions will be verified with.

        Only reads; nothing is decided here (``authenticate_client`` checks it all
        again in the request's own transaction). None when nothing needs fetching.
        """
        assertion = form.get("client_assertion")
        if not assertion:
            return None
        try:
            header, claims = rfc7523.peek(assertion)
        except rfc7523.AssertionError_:
            return None
        client_id = form.get("client_id") or claims.get("iss")
        if not isinstance(client_id, str):
            return None
        client = repository.get_client(session, client_id)
        if (
            client is None
            or not client.enabled
            or client.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT
            or client.jwks
            or not client.jwks_uri
        ):
            return None
        kids = [_kid(header)]
        grant = form.get("assertion")
        if form.get("grant_type") == rfc7523.JWT_BEARER_GRANT and grant:
            # A malformed grant is refused later, with the grant's own error.
            with contextlib.suppress(rfc7523.AssertionError_):
                kids.append(_kid(rfc7523.peek(grant)[0]))
        return KeysWanted(client_id=client.id, jwks_uri=client.jwks_uri, kids=tuple(kids))

    def prefetch_client_keys(self, wanted: KeysWanted) -> None:
        """Network I/O, bounded per client: call it with no database transaction open."""
        self._client_keys.prefetch(wanted, limits=self._fetch_limits)

    # -- client authentication (RFC 6749 section 2.3, RFC 7523 section 2.2) --

    def authenticate_client(
        self, session: Session, *, form: Mapping[str, str], authorization: str | None
    ) -> AuthenticatedClient:
        assertion_type = form.get("client_assertion_type")
        if assertion_type is not None or "client_assertion" in form:
            if authorization:
                raise InvalidRequest("use one client authentication method, not several")
            return self._authenticate_assertion(session, form=form, assertion_type=assertion_type)
        if authorization and authorization.lower().startswith("basic "):
            return self._authenticate_secret(session, authorization=authorization)
        raise InvalidClient("client authentication is required (private_key_jwt)")

    def _authenticate_assertion(
        self, session: Session, *, form: Mapping[str, str], assertion_type: str | None
    ) -> AuthenticatedClient:
        if assertion_type != rfc7523.CLIENT_ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {rfc7523.CLIENT_ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise InvalidClient("client_assertion is missing")
        try:
            header, claims = rfc7523.peek(assertion)
        except rfc7523.AssertionError_ as exc:
            raise InvalidClient(str(exc)) from exc
        client_id = form.get("client_id") or claims.get("iss")
        if not isinstance(client_id, str) or (
            form.get("client_id") and claims.get("iss") != form.get("client_id")
        ):
            raise InvalidClient("the assertion's 'iss' must be the client_id")
        client = self._usable_client(session, client_id)
        if client.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT:
            raise InvalidClient("this client is not registered for private_key_jwt")
        verified = self._verify_assertion(
            client, assertion, header=header, expected_subject=client.id, error=InvalidClient
        )
        if not repository.consume_assertion(
            session, client_id=client.id, jti=verified.jti, expires_at=verified.expires_at
        ):
            raise InvalidClient("the client assertion was used before (jti replay)")
        return AuthenticatedClient(client=client, method=ClientAuthMethod.PRIVATE_KEY_JWT)

    def _verify_assertion(
        self,
        client: OAuthClient,
        assertion: str,
        *,
        header: Mapping[str, Any],
        expected_subject: str | None,
        error: type[OAuthError],
    ) -> rfc7523.VerifiedAssertion:
        try:
            keys = self._client_keys.keys_for(client, kid=_kid(header))
        except ClientKeysUnavailable as exc:
            raise error(str(exc)) from exc
        try:
            return rfc7523.verify(
                assertion,
                keys=keys,
                expected_issuer=client.id,
                expected_subject=expected_subject,
                audiences=self._audiences,
                max_lifetime_seconds=self._settings.client_assertion_max_lifetime_seconds,
            )
        except rfc7523.AssertionError_ as exc:
            raise error(str(exc)) from exc

    def _authenticate_secret(self, session: Session, *, authorization: str) -> AuthenticatedClient:
        if not self._settings.allow_client_secret_basic:
            raise InvalidClient("client_secret_basic is not enabled; use private_key_jwt")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise InvalidClient("malformed Basic credentials") from exc
        client = self._usable_client(session, unquote(raw_id))
        if client.auth_method is not ClientAuthMethod.CLIENT_SECRET_BASIC or not client.secret_hash:
            raise InvalidClient("this client is not registered for client_secret_basic")
        if not hmac.compare_digest(client.secret_hash, hash_secret(unquote(raw_secret))):
            raise InvalidClient("client authentication failed")
        return AuthenticatedClient(client=client, method=ClientAuthMethod.CLIENT_SECRET_BASIC)

    @staticmethod
    def _usable_client(session: Session, client_id: str) -> OAuthClient:
        client = repository.get_client(session, client_id)
        # One answer for unknown and disabled clients: nothing to learn by probing.
        if client is None or not client.enabled:
            raise InvalidClient("unknown or disabled client")
        return client

    # -- token endpoint (RFC 6749 section 4.4, RFC 7523 section 2.1) --------

    def token(
        self,
        session: Session,
        *,
        form: Mapping[str, str],
        authorization: str | None,
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is missing")
        if grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType(f"grant_type '{grant_type}' is not supported")
        authenticated = self.authenticate_client(session, form=form, authorization=authorization)
        client = authenticated.client
        client_scopes = _known_scopes(client.scopes)
        requested = _requested_scopes(form.get("scope"))

        subject = client.id
        role: Role | None = None
        allowed = client_scopes
        if grant_type == rfc7523.JWT_BEARER_GRANT:
            user_id = self._bearer_grant_user(session, client=client, form=form)
            subject = user_id
            user = organisations.get_user(session, user_id)
            assert user is not None  # checked by _bearer_grant_user
            role = user.role
            allowed = client_scopes & ROLE_SCOPES[role]
        if requested is None:
            granted = allowed
        elif requested - allowed:
            missing = format_scopes(requested - allowed)
            raise InvalidScope(f"scope not allowed for this client or user: {missing}")
        else:
            granted = requested
        if not granted:
            raise InvalidScope("no scope could be granted")

        scope = format_scopes(granted)
        issued = rfc9068.issue(
            keys=self._keys,
            issuer=self._settings.issuer,
            audience=self._settings.api_audience,
            subject=subject,
            client_id=client.id,
            scope=scope,
            organisation_id=client.organisation_id,
            role=role.value if role else None,
            lifetime_seconds=self._settings.access_token_lifetime_seconds,
        )
        self._audit.record(
            session,
            AuditEvent(
                type="token.issued",
                actor=Actor(
                    organisation_id=client.organisation_id,
                    user_id=subject if role else None,
                    client_id=client.id,
                ),
                trace_id=trace_id,
                details={
                    "grant_type": grant_type,
                    "scope": scope,
                    "jti": issued.claims["jti"],
                    "client_auth": authenticated.method.value,
                },
            ),
        )
        return {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": scope,
        }

    def _bearer_grant_user(
        self, session: Session, *, client: OAuthClient, form: Mapping[str, str]
    ) -> str:
        assertion = form.get("assertion")
        if not assertion:
            raise InvalidRequest("assertion is missing")
        try:
            header, _ = rfc7523.peek(assertion)
        except rfc7523.AssertionError_ as exc:
            raise InvalidGrant(str(exc)) from exc
        verified = self._verify_assertion(
            client, assertion, header=header, expected_subject=None, error=InvalidGrant
        )
        if not repository.consume_assertion(
            session, client_id=client.id, jti=verified.jti, expires_at=verified.expires_at
        ):
            raise InvalidGrant("the assertion was used before (jti replay)")
        user = organisations.get_user(session, verified.subject)
        if user is None or not user.active or user.organisation_id != client.organisation_id:
            raise InvalidGrant(
                "the assertion's subject is not an active user of the client's organisation"
            )
        return user.id

    # -- introspection (RFC 7662) and revocation (RFC 7009) -----------------

    def introspect(
        self, session: Session, *, form: Mapping[str, str], authorization: str | None
    ) -> dict[str, Any]:
        caller = self.authenticate_client(session, form=form, authorization=authorization).client
        value = form.get("token")
        if not value:
            raise InvalidRequest("token is missing")
        claims = self._honoured_claims(session, value)
        # A client only learns about tokens of its own organisation.
        if claims is None or claims["org"] != caller.organisation_id:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}

    def revoke(
        self,
        session: Session,
        *,
        form: Mapping[str, str],
        authorization: str | None,
        trace_id: str | None = None,
    ) -> None:
        caller = self.authenticate_client(session, form=form, authorization=authorization).client
        value = form.get("token")
        if not value:
            raise InvalidRequest("token is missing")
        hint = form.get("token_type_hint")
        if hint is not None and hint not in {"access_token", "refresh_token"}:
            raise UnsupportedTokenType(f"token_type_hint '{hint}' is not supported")
        # A token whose user or client is disabled is revoked all the same: it must not
        # come back to life should they be enabled again within its lifetime.
        claims = self._valid_claims(value)
        if claims is None or self._standing(session, claims).revoked:
            return  # RFC 7009 section 2.2: invalid tokens need no action
        if claims["client_id"] != caller.id:
            raise UnauthorizedClient("the token was issued to another client")
        repository.revoke(
            session,
            jti=claims["jti"],
            client_id=caller.id,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
        self._audit.record(
            session,
            AuditEvent(
                type="token.revoked",
                actor=Actor(organisation_id=caller.organisation_id, client_id=caller.id),
                trace_id=trace_id,
                details={"jti": claims["jti"]},
            ),
        )

    def _valid_claims(self, value: str) -> dict[str, Any] | None:
        """The claims of an access token this server issued and that has not expired."""
        try:
            return self._validated.validate(
                value,
                keys=self._keys,
                issuer=self._settings.issuer,
                audience=self._settings.api_audience,
            )
        except rfc9068.InvalidAccessToken:
            return None

    def _standing(self, session: Session, claims: Mapping[str, Any]) -> repository.TokenStanding:
        return repository.token_standing(
            session,
            jti=claims["jti"],
            client_id=claims["client_id"],
            user_id=claims["sub"] if claims.get("role") else None,
            issued_at=int(claims.get("iat", 0)),
        )

    def _honoured_claims(self, session: Session, value: str) -> dict[str, Any] | None:
        """The claims of a valid access token that still stands: not revoked (RFC 7009),
        not issued before its client or user was last disabled, its client enabled, its
        user (if any) active."""
        claims = self._valid_claims(value)
        if claims is None or not self._standing(session, claims).honoured:
            return None
        return claims

    # -- resource side --------------------------------------------------------

    def principal(self, session: Session, *, bearer: str) -> Principal:
        claims = self._honoured_claims(session, bearer)
        if claims is None:
            raise Unauthorized(
                "The access token is invalid, expired or revoked, or its client or user "
                "is disabled.",
                slug="invalid-token",
            )
        role = claims.get("role")
        return Principal(
            client_id=claims["client_id"],
            organisation_id=claims["org"],
            user_id=claims["sub"] if role else None,
            role=Role(role) if role else None,
            scopes=_known_scopes(str(claims.get("scope", ""))),
            token_id=claims["jti"],
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )

    def purge_expired(self, session: Session) -> None:
        now = utcnow()
        repository.purge_used_assertions(session, before=now - timedelta(minutes=5))
        # Failed sign-ins hold a client address: kept no longer than a window counts them.
        longest = max(self._settings.web_lockout_minutes, self._settings.web_signin_address_minutes)
        repository.purge_signin_failures(session, before=now - timedelta(minutes=longest))


def _kid(header: Mapping[str, Any]) -> str | None:
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _known_scopes(value: str) -> frozenset[Scope]:
    return frozenset(Scope(item) for item in value.split() if item in Scope._value2member_map_)


def _requested_scopes(value: str | None) -> frozenset[Scope] | None:
    if value is None or not value.strip():
        return None
    unknown = [item for item in value.split() if item not in Scope._value2member_map_]
    if unknown:
        raise InvalidScope(f"unknown scope: {' '.join(unknown)}")
    return frozenset(Scope(item) for item in value.split())
