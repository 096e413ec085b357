"""Database engine and sessions for SQLite (embedded default) and PostgreSQL.

SQLite gets the pragmas a multi-connection service needs (WAL, foreign keys, a
busy timeout); PostgreSQL is used as it comes. Services receive a ``Session``
and never commit: the HTTP endpoint or CLI command that owns the unit of work
does, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Column, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions lazily; ``BEGIN IMMEDIATE`` (issued
    # below on begin) takes the write lock at the start, which is what keeps
    # the audit chain serial when several connections write.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str) -> Engine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def enum_column(enum: type[StrEnum], length: int, *, nullable: bool = False) -> Column[Any]:
    """A VARCHAR column read back as the ``StrEnum`` member (values, not names, are stored)."""
    return Column(
        SAEnum(
            enum,
            native_enum=False,
            length=length,
            values_callable=lambda members: [member.value for member in members],
            validate_strings=True,
        ),
        nullable=nullable,
    )
