"""All SQL of authentication: clients, assertions, token standing, revocations, sign-in failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, bindparam, exists
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, delete, select

from gateway.auth.models import (
    CLIENT_HOLDER,
    USER_HOLDER,
    OAuthClient,
    RevokedBefore,
    RevokedToken,
    SigninFailure,
    UsedAssertion,
)
from gateway.clock import as_utc
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

    # Revoked by its id (RFC 7009), or issued before its client was disabled or its
    # user deactivated (``RevokedBefore``), whatever their state is now.
    revoked: bool
    client_enabled: bool  # False also when the client no longer exists
    user_active: bool | None  # None: the token names no user; False also when deleted

    @property
    def honoured(self) -> bool:
        return not self.revoked and self.client_enabled and self.user_active is not False


def _revoked_before(holder: str, parameter: str) -> ScalarSelect[datetime]:
    return (
        sa_select(col(RevokedBefore.before))
        .where(
            col(RevokedBefore.holder) == holder,
            col(RevokedBefore.holder_id) == bindparam(parameter),
        )
        .scalar_subquery()
    )


# One statement, built once: every authenticated request runs it.
_TOKEN_STANDING = sa_select(
    exists().where(col(RevokedToken.jti) == bindparam("jti")),
    sa_select(col(OAuthClient.enabled))
    .where(col(OAuthClient.id) == bindparam("client_id"))
    .scalar_subquery(),
    sa_select(col(User.active)).where(col(User.id) == bindparam("user_id")).scalar_subquery(),
    _revoked_before(CLIENT_HOLDER, "client_id"),
    _revoked_before(USER_HOLDER, "user_id"),
)


def _issued_before(issued_at: int, cutoff: datetime | None) -> bool:
    # ``iat`` has whole seconds, so a token of the cutoff's own second counts as older:
    # at worst one issued in that second after re-enabling is refused and asked for again.
    return cutoff is not None and issued_at <= int(as_utc(cutoff).timestamp())


def token_standing(
    session: Session, *, jti: str, client_id: str, user_id: str | None, issued_at: int
) -> TokenStanding:
    params = {"jti": jti, "client_id": client_id, "user_id": user_id}
    revoked, enabled, active, client_cutoff, user_cutoff = session.execute(
        _TOKEN_STANDING, params
    ).one()
    return TokenStanding(
        revoked=bool(revoked)
        or _issued_before(issued_at, client_cutoff)
        or _issued_before(issued_at, user_cutoff),
        client_enabled=bool(enabled),
        user_active=None if user_id is None else bool(active),
    )


def revoked_before(session: Session, *, holder: str, holder_id: str) -> datetime | None:
    row = session.get(RevokedBefore, (holder, holder_id))
    return as_utc(row.before) if row is not None else None


def revoke_before(session: OrmSession, *, holder: str, holder_id: str, moment: datetime) -> None:
    """Revoke what was issued to the holder until ``moment``; the latest moment wins.

    Only adds or changes the object: it is called while the session flushes.
    """
    row = session.get(RevokedBefore, (holder, holder_id))
    if row is None:
        session.add(RevokedBefore(holder=holder, holder_id=holder_id, before=moment))
    elif as_utc(row.before) < moment:
        row.before = moment
        session.add(row)


def revoke(session: Session, *, jti: str, client_id: str, expires_at: datetime) -> None:
    if session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, client_id=client_id, expires_at=expires_at))
        session.flush()


# -- failed web sign-ins (gateway.auth.signin_throttle) ---------------------------------


def add_signin_failure(
    session: Session, *, address: str, user_id: str | None, moment: datetime
) -> None:
    session.add(SigninFailure(address=address, user_id=user_id, failed_at=moment))
    session.flush()


def recent_signin_failures(
    session: Session, *, address: str, since: datetime, limit: int, user_id: str | None = None
) -> list[datetime]:
    """When the address failed since ``since`` (for one account, if given), newest first."""
    statement = select(SigninFailure.failed_at).where(
        col(SigninFailure.address) == address, col(SigninFailure.failed_at) > since
    )
    if user_id is not None:
        statement = statement.where(col(SigninFailure.user_id) == user_id)
    statement = statement.order_by(col(SigninFailure.failed_at).desc()).limit(limit)
    return [as_utc(moment) for moment in session.exec(statement).all()]


def clear_signin_failures(session: Session, *, user_id: str, address: str | None = None) -> None:
    statement = delete(SigninFailure).where(col(SigninFailure.user_id) == user_id)
    if address is not None:
        statement = statement.where(col(SigninFailure.address) == address)
    session.exec(statement)


def purge_signin_failures(session: Session, *, before: datetime) -> None:
    session.exec(delete(SigninFailure).where(col(SigninFailure.failed_at) < before))
