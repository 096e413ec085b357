"""All SQL of the authorization server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, select

from gateway.auth.models import OAuthClient, RevokedToken, UsedAssertion


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


def is_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedToken, jti) is not None


def revoke(session: Session, *, jti: str, client_id: str, expires_at: datetime) -> None:
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, client_id=client_id, expires_at=expires_at))
        session.flush()
