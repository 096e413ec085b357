"""Audit trail speed and memory, each figure beside a baseline measured in the same run.

Append (PostgreSQL): ``--writers`` threads (64), each doing what a request
does in a loop for ``--seconds``: open a session and transaction,
``AuditTrail.record(session, event)``, commit. The baseline is the same loop
inserting an equivalent plain row (the same canonical JSON and filter
columns) into a table without chaining. Afterwards the trail must verify and
hold exactly the events whose commits returned.

Sequencer (PostgreSQL): a backlog of ``--backlog`` pending events (100,000),
as writers leave them, integrated by ``AuditTrail.integrate``; the baseline
moves the same rows in the same batches into a plain table without the chain.

Verify (SQLite): a trail of N and 4N events (``--events``, default 250,000, so
4N is 1,000,000) with a checkpoint every ``audit_checkpoint_every`` events (the
default setting), built from precomputed rows in one bulk insert. Each
measurement runs in a fresh child process, so its peak RSS is its own:

- baseline: read every stored event and SHA-256 it once (the least work any
  verifier must do);
- ``verify_trail``, the work of ``gateway audit verify``: canonical form,
  leaf hashes, chain, filter columns, Merkle roots, checkpoint signatures;
  with as many worker processes as the command takes (one per CPU from
  ``PARALLEL_FROM`` events), which check the events while the parent checks
  the tree and the checkpoints.

Usage: ``python bench/audit_bench.py [--events 250000] [--writers 64] [--seconds 5]
[--backlog 100000] [--postgres-url URL] [--skip-append]``; ``GATEWAY_BENCH_POSTGRES_URL`` also names
the server (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the
benchmark creates and drops its own database there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

# The imports below need the path set above.
import psycopg  # noqa: E402
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, insert  # noqa: E402
from sqlalchemy import create_engine as sa_create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from gateway import migrate  # noqa: E402
from gateway.audit import repository, rfc9162  # noqa: E402
from gateway.audit.rfc8785 import canonical_bytes  # noqa: E402
from gateway.audit.service import (  # noqa: E402
    GENESIS_PREV,
    SEQUENCE_BATCH,
    Actor,
    AuditEvent,
    AuditTrail,
    format_time,
)
from gateway.audit.verify import verify_trail, workers_for  # noqa: E402
from gateway.database import create_db_engine  # noqa: E402
from gateway.keys import KeyPurpose, KeyStore  # noqa: E402
from gateway.settings import Settings  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHECKPOINT_EVERY = Settings.model_fields["audit_checkpoint_every"].default
CHECKPOINT_SECONDS = Settings.model_fields["audit_checkpoint_seconds"].default


def bench_event(index: int) -> AuditEvent:
    """What an ask writes: who, about whom, why, the decision; identifiers only."""
    return AuditEvent(
        type="query.asked",
        actor=Actor(organisation_id="org_bench", user_id=f"usr_{index % 50}", client_id="cli_1"),
        subject_id=f"sub_{index % 997}",
        consent_id=f"con_{index % 997}",
        query_id=f"qry_{index}",
        purpose="benefit_coordination",
        decision="permit",
        policies=("permit-consented-question",),
        policy_version="2026-11-01",
        trace_id=f"{index:032x}",
        details={"question": "benefit_status"},
    )


# -- append: 64 writers on PostgreSQL ---------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    commits: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.commits / self.seconds


def run_writers(writers: int, seconds: float, work: Callable[[int, int], None]) -> LoadResult:
    """``writers`` threads call ``work(writer, n)`` until the time is up; counts returned calls."""
    counts = [0] * writers
    start = threading.Barrier(writers + 1)
    deadline = 0.0

    def loop(writer: int) -> None:
        start.wait()
        done = 0
        while time.perf_counter() < deadline:
            work(writer, done)
            done += 1
        counts[writer] = done

    threads = [threading.Thread(target=loop, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return LoadResult(commits=sum(counts), seconds=time.perf_counter() - started)


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    name = f"audit_bench_{os.getpid()}"
    conninfo = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def append_benchmark(admin_url: str, *, writers: int, seconds: float, workdir: Path) -> list[str]:
    with scratch_postgres(admin_url) as url:
        # The gateway's engine settings, with a connection per writer: the pool is not measured.
        engine = sa_create_engine(url, pool_pre_ping=True, pool_size=writers + 4, max_overflow=8)
        migrate.upgrade(engine)
        plain = Table(
            "bench_plain_events",
            MetaData(),
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event", Text, nullable=False),
            Column("event_type", String(60), nullable=False),
            Column("occurred_at", DateTime(timezone=True), nullable=False),
            Column("organisation_id", String(40)),
            Column("user_id", String(40)),
            Column("subject_id", String(40)),
            Column("purpose", String(80)),
            Column("decision", String(10)),
        )
        plain.create(engine)
        keys = KeyStore(workdir / "keys", production=False)
        keys.ensure()
        trail = AuditTrail(
            keys=keys, checkpoint_every=CHECKPOINT_EVERY, checkpoint_seconds=CHECKPOINT_SECONDS
        )

        def plain_row(writer: int, n: int) -> None:
            event = bench_event(writer * 1_000_000 + n)
            now = datetime.now(UTC)
            document = {"seq": n, "prev": GENESIS_PREV, "time": format_time(now), **event.body()}
            with Session(engine) as session:
                session.execute(
                    insert(plain).values(
                        event=canonical_bytes(document).decode(),
                        event_type=event.type,
                        occurred_at=now,
                        organisation_id=event.actor.organisation_id,
                        user_id=event.actor.user_id,
                        subject_id=event.subject_id,
                        purpose=event.purpose,
                        decision=event.decision,
                    )
                )
                session.commit()

        def chained(writer: int, n: int) -> None:
            with Session(engine) as session:
                trail.record(session, bench_event(writer * 1_000_000 + n))
                session.commit()

        baseline = run_writers(writers, seconds, plain_row)
        audit = run_writers(writers, seconds, chained)
        with Session(engine) as session:
            pending_left = repository.pending_count(session)
            trail.integrate(session)
            report = verify_trail(session, keys=keys.verification_keys(KeyPurpose.AUDIT))
        engine.dispose()
    ok = report.ok and report.events == audit.commits
    return [
        f"writers={writers} seconds={seconds:g} checkpoint_every={CHECKPOINT_EVERY}",
        f"baseline (plain row, no chain)  {baseline.per_second:>9,.0f} events/s",
        f"audit record + commit           {audit.per_second:>9,.0f} events/s"
        f"  ratio={audit.per_second / baseline.per_second:.2f}",
        f"chain after the run: {report.events:,} events, {report.checkpoints:,} checkpoints, "
        f"verified={ok}, pending when the writers stopped={pending_left}",
    ]


def _pending_rows(count: int) -> list[tuple[str, datetime]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        moment = start + timedelta(milliseconds=index)
        body = {"time": format_time(moment), **bench_event(index).body()}
        rows.append((canonical_bytes(body).decode(), moment))
    return rows


def _fill_pending(url: str, rows: list[tuple[str, datetime]]) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
    statement = "COPY audit_pending (body, occurred_at) FROM STDIN"
    with (
        psycopg.connect(conninfo) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def sequencer_benchmark(admin_url: str, *, events: int, workdir: Path) -> list[str]:
    """How fast the sequencer integrates a backlog: the chain's own share of an append.

    ``events`` pending events (as writers leave them) are integrated by
    ``AuditTrail.integrate`` in batches of ``SEQUENCE_BATCH``. The baseline
    moves the same rows in the same batches into a plain table: read, insert,
    delete, commit, without canonical form, hashes, chain or checkpoints.
    """
    rows = _pending_rows(events)
    with scratch_postgres(admin_url) as url:
        engine = sa_create_engine(url)
        migrate.upgrade(engine)
        plain = Table(
            "bench_plain_events",
            MetaData(),
            Column("id", BigInteger, primary_key=True),
            Column("event", Text, nullable=False),
            Column("occurred_at", DateTime(timezone=True), nullable=False),
        )
        plain.create(engine)
        _fill_pending(url, rows)
        started = time.perf_counter()
        while True:
            with Session(engine) as session:
                batch = repository.take_pending(session, limit=SEQUENCE_BATCH)
                if batch:
                    session.execute(
                        insert(plain),
                        [
                            {"id": item.id, "event": item.body, "occurred_at": item.occurred_at}
                            for item in batch
                        ],
                    )
                session.commit()
            if len(batch) < SEQUENCE_BATCH:
                break
        baseline = time.perf_counter() - started

        _fill_pending(url, rows)
        keys = KeyStore(workdir / "sequencer-keys", production=False)
        keys.ensure()
        trail = AuditTrail(
            keys=keys, checkpoint_every=CHECKPOINT_EVERY, checkpoint_seconds=CHECKPOINT_SECONDS
        )
        started = time.perf_counter()
        with Session(engine) as session:
            trail.integrate(session)
        sequenced = time.perf_counter() - started
        with Session(engine) as session:
            report = verify_trail(session, keys=keys.verification_keys(KeyPurpose.AUDIT))
        engine.dispose()
    return [
        f"backlog={events:,} batch={SEQUENCE_BATCH:,}",
        f"baseline (move rows, no chain)  {events / baseline:>9,.0f} events/s",
        f"sequencer (chain, checkpoints)  {events / sequenced:>9,.0f} events/s"
        f"  ratio={baseline / sequenced:.2f}",
        f"chain after the run: {report.events:,} events, {report.checkpoints:,} checkpoints, "
        f"verified={report.ok and report.events == events}",
    ]


# -- verify: N and 4N events on SQLite --------------------------------------------------------

_INSERT_EVENT = (
    "INSERT INTO audit_events (seq, event, leaf_hash, event_type, occurred_at, organisation_id, "
    "user_id, client_id, subject_id, consent_id, purpose, decision) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def build_trail(directory: Path, events: int) -> str:
    """A valid trail of ``events`` events, hashed here and bulk-inserted; returns its URL."""
    path = directory / "bench.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    keys = KeyStore(directory / "keys", production=False)
    keys.ensure()
    trail = AuditTrail(
        keys=keys, checkpoint_every=CHECKPOINT_EVERY, checkpoint_seconds=CHECKPOINT_SECONDS
    )
    frontier = rfc9162.Frontier()
    prev = GENESIS_PREV
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows: list[tuple[object, ...]] = []
    with Session(engine) as session:
        for seq in range(1, events + 1):
            event = bench_event(seq)
            moment = start + timedelta(milliseconds=seq)
            canonical = canonical_bytes(
                {"seq": seq, "prev": prev, "time": format_time(moment), **event.body()}
            )
            leaf = rfc9162.leaf_hash(canonical)
            prev = leaf.hex()
            frontier.append(leaf)
            rows.append(
                (
                    seq,
                    canonical.decode(),
                    prev,
                    event.type,
                    moment.isoformat(sep=" "),
                    event.actor.organisation_id,
                    event.actor.user_id,
                    event.actor.client_id,
                    event.subject_id,
                    event.consent_id,
                    event.purpose,
                    event.decision,
                )
            )
            if seq % CHECKPOINT_EVERY == 0:
                trail.sign_checkpoint(session, frontier=frontier, now=moment)
        session.commit()
    engine.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(_INSERT_EVENT, rows)
    connection.close()
    return f"sqlite:///{path}"


def child_baseline(url: str) -> dict[str, float]:
    engine = create_db_engine(url)
    started = time.perf_counter()
    events = 0
    with engine.connect() as connection:
        result = connection.exec_driver_sql("SELECT event FROM audit_events ORDER BY seq")
        for (event,) in result:
            hashlib.sha256(b"\x00" + event.encode()).digest()
            events += 1
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "events": events, "ok": 1.0, "peak_rss_mib": _peak_rss_mib()}


def child_verify(url: str, keys_dir: Path) -> dict[str, float]:
    engine = create_db_engine(url)
    keys = KeyStore(keys_dir, production=False).verification_keys(KeyPurpose.AUDIT)
    with Session(engine) as session:
        workers = workers_for(session)
        report = verify_trail(session, keys=keys, workers=workers)
    engine.dispose()
    return {
        "seconds": report.seconds,
        "events": report.events,
        "ok": float(report.ok),
        "peak_rss_mib": _peak_rss_mib(),
        "workers": workers,
        # The largest worker process's peak (ru_maxrss of children is in KiB on Linux).
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _peak_rss_mib() -> float:
    # VmHWM belongs to this program's address space; ru_maxrss would include the
    # parent's peak at fork (the parent holds the rows it just inserted).
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_child(mode: str, url: str, keys_dir: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url, "--keys", str(keys_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def verify_benchmark(events: int) -> list[str]:
    lines = []
    peaks = []
    for size in (events, events * 4):
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as raw:
            directory = Path(raw)
            started = time.perf_counter()
            url = build_trail(directory, size)
            built = time.perf_counter() - started
            base = in_child("baseline", url, directory / "keys")
            verified = in_child("verify", url, directory / "keys")
        per_second = size / verified["seconds"]
        base_per_second = size / base["seconds"]
        peaks.append(verified["peak_rss_mib"])
        lines.append(
            f"events={size:,} verified={bool(verified['ok'])} "
            f"verify={per_second:,.0f} ev/s ({verified['seconds']:.2f} s) "
            f"baseline(hash only)={base_per_second:,.0f} ev/s "
            f"ratio={per_second / base_per_second:.2f} "
            f"peak_rss={verified['peak_rss_mib']:.0f} MiB "
            f"(each of {verified['workers']:.0f} worker processes at most "
            f"{verified['worker_peak_rss_mib']:.0f} MiB; baseline {base['peak_rss_mib']:.0f} MiB) "
            f"built in {built:.1f} s"
        )
    lines.append(f"peak memory for 4x the events: {peaks[1] / peaks[0]:.2f}x (flat is ~1x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=250_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("GATEWAY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--child", choices=["baseline", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "baseline":
            result = child_baseline(args.url)
        else:
            result = child_verify(args.url, args.keys)
        print(json.dumps(result))
        return
    if not args.skip_append:
        print("append on PostgreSQL, one process:")
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as raw:
            for line in append_benchmark(
                args.postgres_url, writers=args.writers, seconds=args.seconds, workdir=Path(raw)
            ):
                print("  " + line)
            print("sequencer on PostgreSQL, a backlog of pending events:")
            for line in sequencer_benchmark(
                args.postgres_url, events=args.backlog, workdir=Path(raw)
            ):
                print("  " + line)
    if not args.skip_verify:
        print("verify on SQLite (each run in its own process):")
        for line in verify_benchmark(args.events):
            print("  " + line)


if __name__ == "__main__":
    main()
