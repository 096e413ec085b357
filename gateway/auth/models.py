"""Tables of authentication: clients, used assertion ids, revoked tokens, failed sign-ins."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow
from gateway.database import enum_column


class ClientAuthMethod(StrEnum):
    PRIVATE_KEY_JWT = "private_key_jwt"
    TLS_CLIENT_AUTH = "tls_client_auth"
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret


class OAuthClient(SQLModel, table=True):
    __tablename__ = "oauth_clients"

    id: str = Field(primary_key=True, max_length=40)  # the client_id
    organisation_id: str = Field(foreign_key="organisations.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    auth_method: ClientAuthMethod = Field(sa_column=enum_column(ClientAuthMethod, 30))
    jwks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    jwks_uri: str | None = Field(default=None, max_length=2000)
    # Only for client_secret_basic in development: a SHA-256 hash, never the secret.
    secret_hash: str | None = Field(default=None, max_length=128)
    # For tls_client_auth (RFC 8705 section 2.1.2): the expected subject DN.
    tls_subject_dn: str | None = Field(default=None, max_length=500)
    scopes: str = Field(max_length=500)
    enabled: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class UsedAssertion(SQLModel, table=True):
    """``jti`` values of client assertions already accepted (RFC 7523 section 3, item 7)."""

    __tablename__ = "oauth_used_assertions"
    __table_args__ = (UniqueConstraint("client_id", "jti", name="uq_used_assertion"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=40)
    jti: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RevokedToken(SQLModel, table=True):
    """Access tokens revoked before their expiry (RFC 7009)."""

    __tablename__ = "oauth_revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=40)
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


# Who a ``RevokedBefore`` row is about.
CLIENT_HOLDER = "client"
USER_HOLDER = "user"


class RevokedBefore(SQLModel, table=True):
    """Every token issued to a client, or for a user, before ``before`` is revoked.

    Written when a client is disabled or a user deactivated
    (``gateway.auth.revocation``), so enabling them again does not bring their
    older tokens back (nor a user's older web sessions).
    """

    __tablename__ = "oauth_revoked_before"

    holder: str = Field(primary_key=True, max_length=10)  # CLIENT_HOLDER or USER_HOLDER
    holder_id: str = Field(primary_key=True, max_length=40)
    before: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SigninFailure(SQLModel, table=True):
    """One failed web sign-in: from which client address, for which account (None: unknown).

    Rows live only as long as the windows that count them (``gateway.auth.signin_throttle``).
    """

    __tablename__ = "auth_signin_failures"
    __table_args__ = (Index("ix_auth_signin_failures_address", "address", "failed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=40)
    failed_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
