"""Pending audit events and their sequencer (``gateway.audit.service``).

On PostgreSQL ``record`` only accepts an event into ``audit_pending``; the
sequencer integrates it after the writer's commit, on the tick and before
reads. On SQLite the writer's transaction holds the write lock and the event
is sequenced at once.
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from gateway.audit import repository
from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.database import create_db_engine, unit_of_work
from gateway.keys import KeyPurpose
from tests.support import World

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _event(index: int) -> AuditEvent:
    return AuditEvent(
        type="test.event",
        actor=Actor(organisation_id="org_a", user_id="usr_1"),
        subject_id=f"sub_{index}",
        details={"n": index},
    )


def _counts(container: Container) -> tuple[int, int]:
    with Session(container.engine) as session:
        return repository.event_count(session), repository.pending_count(session)


def _verify(container: Container) -> None:
    with Session(container.engine) as session:
        report = verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT))
    assert report.ok, report.problem


def test_a_committed_event_is_in_the_chain_when_its_writer_returns(container: Container) -> None:
    for index in range(3):
        with unit_of_work(container.engine) as session:
            container.audit.record(session, _event(index))
    assert _counts(container) == (3, 0)
    _verify(container)


def test_a_rolled_back_event_leaves_nothing(container: Container) -> None:
    with Session(container.engine) as session:
        container.audit.record(session, _event(1))
        session.rollback()
    assert _counts(container) == (0, 0)


@POSTGRES_ONLY
def test_record_takes_no_chain_lock_on_postgresql(container: Container) -> None:
    """A writer holding its transaction open does not stop another from committing."""
    with Session(container.engine) as slow:
        container.audit.record(slow, _event(1))
        done = threading.Event()

        def other() -> None:
            with unit_of_work(container.engine) as session:
                container.audit.record(session, _event(2))
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert done.wait(10), "the second writer waited for the first one's transaction"
        thread.join()
        slow.commit()
    assert _counts(container) == (2, 0)
    _verify(container)


@POSTGRES_ONLY
def test_an_event_whose_writer_died_after_commit_is_integrated_by_the_next_run(
    container: Container,
) -> None:
    # A second process's trail stands for a writer killed between its commit and
    # sequencing: its engine commits the pending row and is thrown away unsequenced.
    engine = create_db_engine(container.settings.database_url)
    dead = AuditTrail(keys=container.keys, checkpoint_every=5, checkpoint_seconds=3600)
    with Session(engine) as session:
        dead.record(session, _event(1))
        session.info.clear()  # the process dies before its after-commit hook runs
        session.commit()
    engine.dispose()
    assert _counts(container) == (0, 1)

    with unit_of_work(container.engine) as session:  # the next writer's run takes it along
        container.audit.record(session, _event(2))
    assert _counts(container) == (2, 0)
    _verify(container)


@POSTGRES_ONLY
def test_the_tick_integrates_pending_events(container: Container) -> None:
    with unit_of_work(container.engine) as session:
        container.audit.record(session, _event(1))
        session.info.clear()
    assert _counts(container) == (0, 1)
    with unit_of_work(container.engine) as session:
        container.audit.checkpoint_if_due(session)
    assert _counts(container) == (1, 0)


@POSTGRES_ONLY
def test_readers_see_pending_events_sequenced(
    client: TestClient, container: Container, world: World
) -> None:
    headers = world.operator_client.bearer(client, user_id=world.operator_dpo)
    before = client.get("/v1/audit/events", params={"limit": 500}, headers=headers).json()
    for index in range(6):
        with unit_of_work(container.engine) as session:
            container.audit.record(session, _event(index))
            session.info.clear()  # left pending, as by writers that died
    items = client.get("/v1/audit/events", params={"limit": 500}, headers=headers).json()["items"]
    assert len(items) == len(before["items"]) + 6
    assert [item["seq"] for item in items] == list(range(1, len(items) + 1))
    checkpoint = client.get("/v1/audit/checkpoints/latest").json()
    assert checkpoint["tree_size"] >= 5
    assert _counts(container)[1] == 0
    _verify(container)


@POSTGRES_ONLY
def test_concurrent_writers_make_one_chain_without_gaps(container: Container) -> None:
    writers, each = 16, 15
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            barrier.wait()
            for index in range(each):
                with unit_of_work(container.engine) as session:
                    container.audit.record(session, _event(writer * 1000 + index))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert _counts(container) == (writers * each, 0)
    with Session(container.engine) as session:
        seqs = [row[0] for row in session.execute(text("SELECT seq FROM audit_events"))]
        subjects = {row[0] for row in session.execute(text("SELECT subject_id FROM audit_events"))}
    assert sorted(seqs) == list(range(1, writers * each + 1))
    assert len(subjects) == writers * each
    _verify(container)


def test_the_database_refuses_to_change_a_pending_event(container: Container) -> None:
    with container.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_pending (body, occurred_at) VALUES ('{}', :now)"),
            {"now": "2026-11-01 00:00:00+00:00"},
        )
    with pytest.raises(Exception, match="append-only"), container.engine.begin() as connection:
        connection.execute(text("UPDATE audit_pending SET body = 'x'"))
    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_pending"))
