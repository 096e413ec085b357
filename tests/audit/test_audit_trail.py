"""The audit trail: chain, tree, checkpoints and proofs, checked by an independent verifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from gateway.audit import repository
from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.keys import KeyPurpose
from tests.audit import independent
from tests.support import World


def _record(container: Container, count: int, **fields: str) -> None:
    for index in range(count):
        with unit_of_work(container.engine) as session:
            container.audit.record(
                session,
                AuditEvent(
                    type=fields.get("type", "test.event"),
                    actor=Actor(organisation_id=fields.get("org", "org_a"), user_id="usr_1"),
                    subject_id=fields.get("subject", f"sub_{index}"),
                    details={"n": index},
                ),
            )


def _all_events(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit/events", params=params, headers=headers).json()
        items.extend(page["items"])
        cursor = page["next"]
        if cursor is None:
            return items


def test_the_trail_verifies_in_several_processes_alike(container: Container) -> None:
    _record(container, 12)
    keys = container.keys.verification_keys(KeyPurpose.AUDIT)
    with Session(container.engine) as session:
        in_order = verify_trail(session, keys=keys)
        in_parallel = verify_trail(session, keys=keys, workers=2, batch=5)
    assert in_order.ok
    assert in_parallel.ok, in_parallel.problem
    assert (in_parallel.events, in_parallel.checkpoints) == (12, 2)


def test_checkpoints_every_n_events_and_the_trail_verifies(container: Container) -> None:
    _record(container, 12)
    with Session(container.engine) as session:
        report = verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT))
        latest = container.audit.latest_checkpoint(session)
    assert report.ok, report.problem
    assert report.events == 12
    assert report.checkpoints == 2  # every 5 events: at 5 and 10
    assert latest.tree_size == 10


def test_an_independent_verifier_reproduces_roots_proofs_and_signatures(
    client: TestClient, container: Container, world: World
) -> None:
    _record(container, 9)
    headers = world.operator_client.bearer(client, user_id=world.operator_dpo)
    events = _all_events(client, headers)
    assert [item["seq"] for item in events] == list(range(1, len(events) + 1))
    leaves = []
    previous = "0" * 64
    for item in events:
        event = item["event"]
        assert isinstance(event, dict)
        digest = independent.leaf(independent.canonical(event))
        assert digest.hex() == item["leaf_hash"]
        assert event["prev"] == previous
        previous = digest.hex()
        leaves.append(digest)

    checkpoint = client.get("/v1/audit/checkpoints/latest").json()
    jwks = client.get("/.well-known/jwks.json").json()
    payload = independent.verify_jws(checkpoint["jws"], jwks)
    assert payload == {k: checkpoint[k] for k in ("tree_size", "root_hash", "timestamp")}
    size = checkpoint["tree_size"]
    assert independent.mth(leaves[:size]).hex() == checkpoint["root_hash"]

    for seq in (1, size // 2, size):
        proof = client.get(f"/v1/audit/proof/{seq}").json()
        assert proof["leaf_index"] == seq - 1
        assert independent.verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            leaves[seq - 1],
            [bytes.fromhex(h) for h in proof["audit_path"]],
            bytes.fromhex(proof["root_hash"]),
        )
    assert client.get(f"/v1/audit/proof/{size + 1000}").status_code == 404

    with Session(container.engine) as session:
        sizes = [row.tree_size for row in repository.all_checkpoints(session)]
    first, second = sizes[0], sizes[-1]
    consistency = client.get(
        "/v1/audit/consistency", params={"first": first, "second": second}
    ).json()
    assert independent.verify_consistency(
        first,
        second,
        bytes.fromhex(consistency["first"]["root_hash"]),
        bytes.fromhex(consistency["second"]["root_hash"]),
        [bytes.fromhex(h) for h in consistency["consistency_path"]],
    )


def test_the_database_refuses_update_and_delete(container: Container) -> None:
    _record(container, 6)
    for statement in (
        "UPDATE audit_events SET event_type = 'x' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
        "UPDATE audit_checkpoints SET root_hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ):
        with pytest.raises(sqlalchemy.exc.DatabaseError), container.engine.begin() as connection:
            connection.execute(text(statement))
    if container.engine.dialect.name == "postgresql":
        with pytest.raises(sqlalchemy.exc.DatabaseError), container.engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_events"))
    with Session(container.engine) as session:
        assert verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT)).ok


def _behind_the_databases_back(
    container: Container, *statements: tuple[str, dict[str, object]]
) -> None:
    """What an operator with full database access could do: bypass the append-only triggers."""
    with container.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("audit_events", "audit_checkpoints"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for statement, parameters in statements:
            connection.execute(text(statement), parameters)


SET_EVENT = "UPDATE audit_events SET event = :event, leaf_hash = :leaf WHERE seq = :seq"
Rows = dict[int, tuple[str, str]]


def _changed_field(rows: Rows) -> list[tuple[str, dict[str, object]]]:
    event, leaf = rows[4]
    return [(SET_EVENT, {"event": event.replace('"n":3', '"n":4'), "leaf": leaf, "seq": 4})]


def _changed_and_rehashed(rows: Rows) -> list[tuple[str, dict[str, object]]]:
    event = rows[4][0].replace('"n":3', '"n":99')
    return [(SET_EVENT, {"event": event, "leaf": independent.leaf(event.encode()).hex(), "seq": 4})]


def _swapped(rows: Rows) -> list[tuple[str, dict[str, object]]]:
    return [
        (SET_EVENT, {"event": rows[4][0], "leaf": rows[4][1], "seq": 3}),
        (SET_EVENT, {"event": rows[3][0], "leaf": rows[3][1], "seq": 4}),
    ]


def _forged_checkpoint(_rows: Rows) -> list[tuple[str, dict[str, object]]]:
    return [
        (
            "UPDATE audit_checkpoints SET jws = substr(jws, 1, length(jws) - 6) || 'AAAAAA' "
            "WHERE tree_size = 10",
            {},
        )
    ]


TAMPERING = {
    "changed field": (_changed_field, 4),
    "changed field with its leaf hash recomputed": (_changed_and_rehashed, 4),
    "deleted row": (lambda _rows: [("DELETE FROM audit_events WHERE seq = 7", {})], 7),
    "deleted first row": (lambda _rows: [("DELETE FROM audit_events WHERE seq = 1", {})], 1),
    # With ranges of three (below), 5 and 6 end a range and 7 begins the next one.
    "deleted rows across ranges": (
        lambda _rows: [("DELETE FROM audit_events WHERE seq IN (5, 6, 7)", {})],
        5,
    ),
    "swapped rows": (_swapped, 3),
    "truncated tail": (lambda _rows: [("DELETE FROM audit_events WHERE seq > 8", {})], 9),
    "forged checkpoint": (_forged_checkpoint, 10),
}


# How the events' own checks run: in order here, or in two processes on ranges of 3 events
# (``gateway audit verify`` on a long trail); either way the same first problem is named.
CHECKS = {"in order": {}, "in two processes": {"workers": 2, "batch": 3}}


@pytest.mark.parametrize("checks", list(CHECKS))
@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_detected_at_the_right_sequence_number(
    container: Container, kind: str, checks: str
) -> None:
    _record(container, 12)
    make_statements, expected_seq = TAMPERING[kind]
    with Session(container.engine) as session:
        rows: Rows = {
            seq: (event, leaf)
            for seq, event, leaf in session.execute(
                text("SELECT seq, event, leaf_hash FROM audit_events")
            )
        }
    _behind_the_databases_back(container, *make_statements(rows))
    with Session(container.engine) as session:
        keys = container.keys.verification_keys(KeyPurpose.AUDIT)
        report = verify_trail(session, keys=keys, **CHECKS[checks])
    assert not report.ok
    assert report.first_bad_seq == expected_seq, report.problem


# -- the chain's end, read once per append ------------------------------------------------


def _checkpoint_sizes(container: Container) -> list[int]:
    with Session(container.engine) as session:
        return [row.tree_size for row in repository.all_checkpoints(session)]


def _at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("gateway.audit.service.utcnow", lambda: moment)


def _one(container: Container, trail: AuditTrail, name: str) -> None:
    with unit_of_work(container.engine) as session:
        trail.record(session, AuditEvent(type=name))


def _sign_everything(container: Container, trail: AuditTrail) -> list[int]:
    with Session(container.engine) as session:
        trail.checkpoint_if_due(session, force=True)
        session.commit()
    return _checkpoint_sizes(container)


# Each process keeps the time of the oldest unsigned event, so that its age check reads
# nothing; these two tests let another process (another AuditTrail) append in between.
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def two_processes(container: Container) -> tuple[AuditTrail, AuditTrail]:
    """This process's trail and another's, signing after 60 s (or 1000 events)."""
    return (
        AuditTrail(keys=container.keys, checkpoint_every=1000, checkpoint_seconds=60),
        AuditTrail(keys=container.keys, checkpoint_every=1000, checkpoint_seconds=60),
    )


def test_the_age_of_unsigned_events_counts_committed_events_only(
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    two_processes: tuple[AuditTrail, AuditTrail],
) -> None:
    trail, other_process = two_processes
    start = START
    _at(monkeypatch, start - timedelta(seconds=1))
    _one(container, trail, "test.first")
    signed = _sign_everything(container, trail)

    _at(monkeypatch, start)
    with Session(container.engine) as session:
        trail.record(session, AuditEvent(type="test.rolled_back"))
        session.rollback()
    _at(monkeypatch, start + timedelta(seconds=50))
    _one(container, other_process, "test.elsewhere")
    # The oldest unsigned event is 20 s old: the rolled-back one (70 s) never counted.
    _at(monkeypatch, start + timedelta(seconds=70))
    _one(container, trail, "test.here")
    assert _checkpoint_sizes(container) == signed

    _at(monkeypatch, start + timedelta(seconds=111))
    _one(container, trail, "test.later")
    assert _checkpoint_sizes(container) == [*signed, signed[-1] + 3]


def test_a_checkpoint_signed_elsewhere_restarts_the_age(
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    two_processes: tuple[AuditTrail, AuditTrail],
) -> None:
    trail, other_process = two_processes
    start = START
    _at(monkeypatch, start - timedelta(seconds=1))
    _sign_everything(container, trail)
    _at(monkeypatch, start)
    _one(container, trail, "test.first")  # this process knows: unsigned since 08:00:00
    _at(monkeypatch, start + timedelta(seconds=30))
    signed = _sign_everything(container, other_process)
    _at(monkeypatch, start + timedelta(seconds=40))
    _one(container, other_process, "test.elsewhere")  # unsigned since 08:00:40

    _at(monkeypatch, start + timedelta(seconds=70))
    _one(container, trail, "test.here")
    assert _checkpoint_sizes(container) == signed
    with Session(container.engine) as session:
        assert verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT)).ok


def test_an_append_reads_the_chain_once(container: Container) -> None:
    """The chain's end is one indexed read; the time of the oldest unsigned event is known."""
    trail = AuditTrail(keys=container.keys, checkpoint_every=1000, checkpoint_seconds=3600)
    _one(container, trail, "test.warm")
    _one(container, trail, "test.warm")
    statements: list[str] = []

    def seen(*args: object) -> None:
        statement = args[2]
        assert isinstance(statement, str)
        statements.append(statement.split()[0].upper())

    sqlalchemy.event.listen(container.engine, "before_cursor_execute", seen)
    try:
        with unit_of_work(container.engine) as session:
            trail.record(session, AuditEvent(type="test.counted"))
            holds_lock = repository.holds_lock_itself(session)
    finally:
        sqlalchemy.event.remove(container.engine, "before_cursor_execute", seen)
    if holds_lock:  # SQLite: sequenced in the writer's transaction
        assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["SELECT", "INSERT"]


def test_a_seq_that_is_no_integer_is_named_alike_in_several_processes(
    container: Container,
) -> None:
    """SQLite stores any value in any column; one written behind its back must not break
    the split into ranges."""
    if container.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's BIGINT column refuses such a value itself")
    _record(container, 12)
    _behind_the_databases_back(container, ("UPDATE audit_events SET seq = 'x' WHERE seq = 12", {}))
    keys = container.keys.verification_keys(KeyPurpose.AUDIT)
    with Session(container.engine) as session:
        in_order = verify_trail(session, keys=keys)
        in_parallel = verify_trail(session, keys=keys, workers=2, batch=3)
    assert not in_order.ok
    assert (in_parallel.first_bad_seq, in_parallel.problem) == (
        in_order.first_bad_seq,
        in_order.problem,
    )
