"""Stored subtree roots: proofs read from them equal proofs from every leaf, on both databases.

The trail is grown through ``AuditTrail.record`` in transactions of uneven
sizes, so the roots are written the way the gateway writes them: one event at
a time in the writer's transaction on SQLite, in sequencer batches (across
``SEQUENCE_BATCH``) on PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session

from gateway.audit import repository, rfc9162, subtrees
from gateway.audit.service import Actor, AuditEvent
from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.keys import KeyPurpose
from tests.audit import independent

# Transactions of these many events, repeated until the trail is long enough.
CHUNKS = (1, 2, 3, 5, 7, 16, 1, 31, 64, 1, 100, 13)
BATCH = 50  # the sequencer's batch in these tests (SEQUENCE_BATCH), so a run spans several


def grow(container: Container, upto: int) -> None:
    """Record events until the trail holds ``upto``."""
    with Session(container.engine) as session:
        size = repository.event_count(session)
    chunks = iter(CHUNKS * (upto // sum(CHUNKS) + 1))
    while size < upto:
        count = min(next(chunks), upto - size)
        _record(container, count, first=size)
        size += count


def _record(container: Container, count: int, *, first: int) -> None:
    with unit_of_work(container.engine) as session:
        for index in range(first, first + count):
            container.audit.record(
                session,
                AuditEvent(
                    type="test.event", actor=Actor(organisation_id="org_a"), details={"n": index}
                ),
            )


def bulk(container: Container, count: int) -> None:
    """``count`` events in one transaction: on PostgreSQL one sequencer run of several batches."""
    _record(container, count, first=0)


def leaves(container: Container) -> list[bytes]:
    with Session(container.engine) as session:
        size = repository.event_count(session)
        return [bytes.fromhex(h) for h in repository.leaf_hashes(session, after=0, upto=size)]


def _sizes(total: int, rng: random.Random) -> Iterator[tuple[int, list[int]]]:
    """(tree size, the leaf indexes to prove): every size of 1..70, a few larger ones.

    Every index while the tree is small; beyond, both ends and a sample (each index
    also names the old size index + 1 of a consistency proof).
    """
    larger = {*rng.sample(range(71, total + 1), 5), 255, 256, 257, total}
    for size in [*range(1, 71), *sorted(larger)]:
        if size <= 20:
            yield size, list(range(size))
        else:
            yield size, sorted({0, size - 1, *rng.sample(range(size), 5)})


def test_proofs_from_stored_subtrees_equal_proofs_from_every_leaf(container: Container) -> None:
    rng = random.Random(9162)
    total = 300
    grow(container, total)
    everything = leaves(container)
    assert len(everything) == total
    roots = {size: independent.mth(everything[:size]) for size in range(1, total + 1)}
    with Session(container.engine) as session:
        for size, picks in _sizes(total, rng):
            tree = everything[:size]
            for index in picks:
                leaf, path = subtrees.inclusion_proof(session, index=index, size=size)
                assert leaf == tree[index]
                assert path == rfc9162.inclusion_proof(index, tree), (size, index)
                assert independent.verify_inclusion(index, size, leaf, path, roots[size])
                old = index + 1
                proof = subtrees.consistency_proof(session, old_size=old, size=size)
                assert proof == rfc9162.consistency_proof(old, tree), (old, size)
                assert independent.verify_consistency(old, size, roots[old], roots[size], proof)


def _stored(container: Container) -> dict[tuple[int, int], str]:
    with Session(container.engine) as session:
        rows = session.execute(text("SELECT level, idx, hash FROM audit_subtrees"))
        return {(level, idx): value for level, idx, value in rows}


def _every_complete_node(tree: list[bytes]) -> dict[tuple[int, int], str]:
    nodes = {}
    level = subtrees.STORED_FROM_LEVEL
    while 1 << level <= len(tree):
        width = 1 << level
        for idx in range(len(tree) // width):
            nodes[(level, idx)] = independent.mth(tree[idx * width : (idx + 1) * width]).hex()
        level += 1
    return nodes


def test_every_complete_subtree_is_stored_once_with_its_independent_root(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.audit.service.SEQUENCE_BATCH", BATCH)
    bulk(container, 3 * BATCH + 7)  # on PostgreSQL: one run of four batches
    grow(container, 3 * BATCH + 7 + 77)
    tree = leaves(container)
    assert _stored(container) == _every_complete_node(tree)


def _behind_the_databases_back(container: Container, statement: str) -> None:
    with container.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_subtrees_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_subtrees_no_delete"))
        connection.execute(text(statement))


def test_the_database_refuses_to_change_stored_roots(container: Container) -> None:
    grow(container, 40)
    for statement in ("UPDATE audit_subtrees SET hash = 'x'", "DELETE FROM audit_subtrees"):
        with pytest.raises(Exception, match="append-only"), container.engine.begin() as connection:
            connection.execute(text(statement))


def test_a_trail_loaded_without_its_roots_still_proves_and_is_filled_in(
    container: Container,
) -> None:
    """A bulk load behind the gateway's back (benchmarks) stores no roots: proofs compute the
    missing ones from the leaves, and the sequencer stores them all when it next needs one."""
    grow(container, 100)
    expected = _stored(container)
    _behind_the_databases_back(container, "DELETE FROM audit_subtrees")
    tree = leaves(container)
    with Session(container.engine) as session:
        for index in (0, 37, 99):
            _, path = subtrees.inclusion_proof(session, index=index, size=100)
            assert path == rfc9162.inclusion_proof(index, tree)
        assert subtrees.consistency_proof(session, old_size=33, size=100) == (
            rfc9162.consistency_proof(33, tree)
        )
        assert verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT)).ok
    # The next time the sequencer reads the frontier (here: a block of 16 completes).
    grow(container, 112)
    assert _stored(container) == {**expected, **_every_complete_node(leaves(container))}


@pytest.mark.parametrize(
    ("statement", "expected_seq", "words"),
    [
        (
            "UPDATE audit_subtrees SET hash = '{zero}' WHERE level = 5 AND idx = 1",
            64,
            "stored subtree root of events 33 to 64 differs",
        ),
        (
            "INSERT INTO audit_subtrees (level, idx, hash) VALUES (4, 9, '{zero}')",
            101,
            "a stored subtree root covers 160 events",
        ),
    ],
)
def test_the_verifier_names_a_changed_or_surplus_root(
    container: Container, statement: str, expected_seq: int, words: str
) -> None:
    grow(container, 100)
    _behind_the_databases_back(container, statement.format(zero="0" * 64))
    # The roots are compared where the tree is rebuilt, in this process, however many
    # processes check the events; batches of 7 read the roots in several rounds.
    with Session(container.engine) as session:
        report = verify_trail(
            session, keys=container.keys.verification_keys(KeyPurpose.AUDIT), batch=7
        )
    assert not report.ok
    assert report.first_bad_seq == expected_seq
    assert report.problem is not None
    assert words in report.problem


def test_a_rolled_back_append_leaves_no_roots(container: Container) -> None:
    """The roots are written in the transaction that sequences their last event."""
    grow(container, 15)
    with Session(container.engine) as session:
        container.audit.record(session, AuditEvent(type="test.rolled_back"))  # the 16th
        session.rollback()
    assert _stored(container) == {}
    grow(container, 16)
    assert set(_stored(container)) == {(4, 0)}
