"""All SQL of the authorization server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select

from gateway.auth.models import OAuthClient, RevokedToken, UsedAssertion
from gateway.organisations.models import User


def get_client(session: Session, client_id: str) -> OAuthClient | None:
    return session.get(OAuthClient, client_id)


def list_clients(session: Session) -> list[OAuthClient]:
    return list(session.exec(select(OAuthClient).order_by(col(OAuthClient.created_at))).all())


def add_client(session: Session, client: OAuthClient) -> None:
    session.add(client)
    session.flush()


def consume_assertion(session: Session, *, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's ``jti``; False when it was used before.

    One ``INSERT ... ON CONFLICT DO NOTHING`` on the unique (client, jti) pair:
    the database decides, also between concurrent requests (on PostgreSQL the
    second insert waits for the first's transaction and inserts nothing if it
    committed), with no savepoint around it.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(UsedAssertion)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(col(UsedAssertion.id))
    )
    # A row comes back only when this insert recorded the jti (rowcount is not
    # reliable across drivers for ON CONFLICT).
    return session.exec(statement).first() is not None


def purge_used_assertions(session: Session, *, before: datetime) -> None:
    session.exec(delete(UsedAssertion).where(col(UsedAssertion.expires_at) < before))


@dataclass(frozen=True, slots=True)
class TokenStanding:
    """What the database says about a validly signed access token, read in one statement."""

    revoked: bool
    client_enabled: bool  # False also when the client no longer exists
    user_active: bool | None  # None: the token names no user; False also when deleted

    @property
    def honoured(self) -> bool:
        return not self.revoked and self.client_enabled and self.user_active is not False


# One statement, built once: every authenticated request runs it.
_TOKEN_STANDING = sa_select(
    exists().where(col(RevokedToken.jti) == bindparam("jti")),
    sa_select(col(OAuthClient.enabled))
    .where(col(OAuthClient.id) == bindparam("client_id"))
    .scalar_subquery(),
    sa_select(col(User.active)).where(col(User.id) == bindparam("user_id")).scalar_subquery(),
)


def token_standing(
    session: Session, *, jti: str, client_id: str, user_id: str | None
) -> TokenStanding:
    params = {"jti": jti, "client_id": client_id, "user_id": user_id}
    revoked, enabled, active = session.execute(_TOKEN_STANDING, params).one()
    return TokenStanding(
        revoked=bool(revoked),
        client_enabled=bool(enabled),
        user_active=None if user_id is None else bool(active),
    )


def revoke(session: Session, *, jti: str, client_id: str, expires_at: datetime) -> None:
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, client_id=client_id, expires_at=expires_at))
        session.flush()
