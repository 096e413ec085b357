"""SQLite's one writer: writers of a process queue on the write gate, readers never wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.database import RequestSession, create_db_engine, reader
from gateway.organisations.models import Organisation, OrganisationKind


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def _increment(engine: Engine) -> None:
    with Session(engine) as session:
        # Read, then write: correct only because the transaction holds the write lock
        # from its start (a lost update otherwise).
        value = session.execute(text("SELECT n FROM counter")).scalar_one()
        time.sleep(0.001)
        session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
        session.commit()


def test_writers_of_one_process_take_turns_without_lost_updates(engine: Engine) -> None:
    threads = [
        threading.Thread(target=lambda: [_increment(engine) for _ in range(20)]) for _ in range(8)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with Session(engine) as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 160
    # Queued on the gate, each waiter starts as soon as the lock is free; SQLite's busy
    # handler would add sleeps of up to 100 ms per wait.
    assert time.monotonic() - started < 20


def test_a_reader_does_not_wait_for_an_open_write_transaction(engine: Engine) -> None:
    with Session(engine) as writer:
        writer.execute(text("UPDATE counter SET n = 41"))
        with Session(reader(engine)) as session:
            started = time.monotonic()
            value = session.execute(text("SELECT n FROM counter")).scalar_one()
            assert time.monotonic() - started < 1.0
            assert value == 0, "the reader sees the last commit"
        writer.commit()


def test_the_gate_is_free_again_after_a_rollback(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("UPDATE counter SET n = 7"))
        session.rollback()
    done = threading.Event()

    def write_elsewhere() -> None:
        _increment(engine)
        done.set()

    threading.Thread(target=write_elsewhere).start()
    assert done.wait(timeout=5), "another thread could not begin a write transaction"


def test_a_request_session_loads_an_object_once(tmp_path: Path) -> None:
    from gateway import migrate

    migrated = create_db_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrate.upgrade(migrated)
    with Session(migrated) as session:
        session.add(
            Organisation(id="org_1", kind=OrganisationKind.MUNICIPALITY, name="Brackenheim")
        )
        session.commit()
    statements: list[str] = []
    event.listen(migrated, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with RequestSession(migrated) as session:
        for _ in range(3):
            assert session.get(Organisation, "org_1") is not None  # nothing holds it between
    assert sum("FROM organisations" in statement for statement in statements) == 1
