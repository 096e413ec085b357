"""Tables of the web pages: sessions, sign-in failure counters, persons an organisation knows.

A session id travels only in its cookie; the table keeps its SHA-256, so a
leaked table cannot be replayed as cookies. The CSRF synchronizer token is
per session and useless without the cookie.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from gateway.clock import utcnow


def _when(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_when())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_when())
    expires_at: datetime = Field(sa_column=_when(index=True))


class SigninCounter(SQLModel, table=True):
    """Consecutive failed sign-ins of one account, and the lock they caused."""

    __tablename__ = "web_signin_counters"

    user_id: str = Field(primary_key=True, foreign_key="users.id", max_length=40)
    failures: int = 0
    last_failure_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    locked_until: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class KnownSubject(SQLModel, table=True):
    """A person an organisation registered or found on the web pages (with name and birth date).

    Proving that knowledge is what lets the organisation open the person's page
    before any consent links them.
    """

    __tablename__ = "web_known_subjects"

    organisation_id: str = Field(primary_key=True, foreign_key="organisations.id", max_length=40)
    subject_id: str = Field(primary_key=True, foreign_key="subjects.id", max_length=40)
    known_since: datetime = Field(default_factory=utcnow, sa_column=_when())
