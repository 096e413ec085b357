"""Database engine and sessions for SQLite (embedded default) and PostgreSQL.

SQLite gets the pragmas a multi-connection service needs (WAL, foreign keys, a
busy timeout); PostgreSQL is used as it comes. Services receive a ``Session``
and never commit: the HTTP endpoint or CLI command that owns the unit of work
does, once.

SQLite has one writer at a time. Every transaction begins with ``BEGIN
IMMEDIATE`` (it holds the write lock from its start, which keeps the audit
chain serial), and the writers of one process queue for that lock on a
``threading.Lock`` first: a waiting thread sleeps until the lock is free and
the next one starts at once. Left to SQLite's busy handler, waiting writers
poll with sleeps of up to 100 ms, and under load a writer keeps missing the
moment the lock is free (seconds at p99). Other processes on the same file
still wait in the busy handler. Commits stay durable: WAL with the default
``synchronous=FULL``, one fsync per commit.

The SQLite file holds personal data: it is created readable by its owner only
(0600) and its directory closed to others (0700); files and directory an older
version left readable are closed on start. SQLite gives ``-wal`` and ``-shm``
the mode of the database file.

Integers from requests are checked against ``BIGINT_MAX`` before they reach a
query: SQLite refuses larger ones with an ``OverflowError`` (a 500).
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Column, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# The largest integer SQLite's INTEGER and PostgreSQL's BIGINT both hold.
BIGINT_MAX = 2**63 - 1
_DECIMAL = re.compile(r"[0-9]{1,19}")


def parse_bigint(text: str) -> int | None:
    """``text`` as a non-negative integer a BIGINT column holds, or None.

    ASCII digits only: ``str.isdigit`` also accepts "²", which ``int`` refuses.
    """
    if not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= BIGINT_MAX else None


# The files of one SQLite database: the database, and what SQLite creates beside it.
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _owner_only(path: Path) -> None:
    """Take group and other permissions from ``path`` if this process owns it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(status.st_mode)
    if status.st_uid == os.getuid() and mode & 0o077:
        path.chmod(mode & 0o700)


def _private_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only, before SQLite opens it with the
    process umask, and close its directory to others; tighten what an older version left.

    The directory is the gateway's data directory (keys, demo credentials and exports
    live there too). A shared directory (sticky, like /tmp) is left open: only the
    files are the gateway's to close there.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not directory.stat().st_mode & stat.S_ISVTX:
        _owner_only(directory)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in _SQLITE_SUFFIXES:
        _owner_only(path.with_name(path.name + suffix))


BUSY_TIMEOUT_SECONDS = 30.0
# Execution option of ``reader``: transactions that only read, begun without the write lock.
READ_ONLY = "gateway_read_only"


class _GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that leaves its process's write gate when its transaction ends."""

    gate: threading.Lock | None = None
    holds_gate = False

    def enter_gate(self) -> None:
        # Past the busy timeout, go on without the gate: SQLite's own lock still decides
        # (and times out), as it would without the gate.
        if self.gate is not None and self.gate.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            self.holds_gate = True

    def leave_gate(self) -> None:
        if self.holds_gate and self.gate is not None:
            self.holds_gate = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_gate()


_GATES: dict[str, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


def _gate_for(database: str) -> threading.Lock:
    """One gate per database file in this process, whichever engine opens it."""
    with _GATES_LOCK:
        return _GATES.setdefault(database, threading.Lock())


def _configure_sqlite(gate: threading.Lock | None) -> Any:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 opens transactions lazily; ``BEGIN IMMEDIATE`` (issued
        # below on begin) takes the write lock at the start, which is what keeps
        # the audit chain serial when several connections write.
        dbapi_connection.isolation_level = None
        dbapi_connection.gate = gate
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    return configure


def _begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # A snapshot of the last commit; WAL readers neither wait for writers nor block them.
        connection.exec_driver_sql("BEGIN DEFERRED")
        return
    dbapi_connection = connection.connection.dbapi_connection
    dbapi_connection.enter_gate()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi_connection.leave_gate()
        raise


def create_db_engine(url: str) -> Engine:
    if is_sqlite(url):
        database = make_url(url).database
        gate: threading.Lock | None = None  # in memory: one database per connection
        if database and database != ":memory:":
            _private_database_file(Path(database))
            gate = _gate_for(str(Path(database).resolve()))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "factory": _GatedConnection}
        )
        event.listen(engine, "connect", _configure_sqlite(gate))
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def reader(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they begin ``DEFERRED``.

    Such a transaction sees the last commit and never waits for a writer; were it
    to write after all, SQLite refuses that when another write came between
    (``SQLITE_BUSY``), so nothing is decided on a stale read. PostgreSQL reads
    as before.
    """
    return engine.execution_options(**{READ_ONLY: True})


# Objects a request session keeps alive, at most: enough for any one request's lookups.
KEPT_PER_SESSION = 256
_KEPT = "gateway_kept"


class RequestSession(Session):
    """The session of one request: what it loaded stays in its identity map until it closes.

    SQLAlchemy's identity map holds objects weakly, so a lookup by primary key
    whose earlier result was already dropped goes to the database again (one
    ask looked up the same organisation four times). Keeping the first
    ``KEPT_PER_SESSION`` loaded objects makes those repeats free; memory stays
    bounded when a request streams many rows.
    """


@event.listens_for(RequestSession, "loaded_as_persistent")
def _keep_loaded(session: Session, instance: object) -> None:
    kept = session.info.setdefault(_KEPT, [])
    if len(kept) < KEPT_PER_SESSION:
        kept.append(instance)


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
