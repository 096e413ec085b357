"""Audit verification speed and memory, as a ratio to a bare baseline measured in the same run.

Builds a trail of N events in a fresh SQLite database, then measures:

- baseline: reading the same rows and SHA-256 hashing each stored event once
  (the least work any verifier must do);
- ``gateway audit verify``'s streaming verification (parse, canonicalise,
  hash, chain, Merkle frontier, checkpoint signatures).

Prints events per second for both, their ratio, and the peak Python memory of
verification for N and 4N events (flat memory means the two peaks are close).
Usage: ``python bench/audit_bench.py [--events 20000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from gateway import migrate
from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.audit.verify import verify_trail
from gateway.database import create_db_engine
from gateway.keys import KeyPurpose, KeyStore


def build_trail(directory: Path, events: int) -> tuple[str, KeyStore]:
    url = f"sqlite:///{directory / 'bench.db'}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    keys = KeyStore(directory / "keys", production=False)
    keys.ensure()
    trail = AuditTrail(keys=keys, checkpoint_every=1000, checkpoint_seconds=3600)
    with Session(engine) as session:
        for index in range(events):
            trail.record(
                session,
                AuditEvent(
                    type="query.asked",
                    actor=Actor(organisation_id="org_bench", user_id=f"usr_{index % 50}"),
                    subject_id=f"sub_{index % 997}",
                    purpose="benefit_coordination",
                    decision="permit",
                    details={"question": "benefit_status"},
                ),
            )
            if index % 5000 == 4999:
                session.commit()
        session.commit()
    engine.dispose()
    return url, keys


def baseline(url: str) -> float:
    engine = create_db_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        for (event,) in connection.execute(text("SELECT event FROM audit_events ORDER BY seq")):
            hashlib.sha256(b"\x00" + event.encode()).digest()
    engine.dispose()
    return time.perf_counter() - started


def verify(url: str, keys: KeyStore) -> tuple[float, int, bool]:
    engine = create_db_engine(url)
    tracemalloc.start()
    started = time.perf_counter()
    with Session(engine) as session:
        report = verify_trail(session, keys=keys.verification_keys(KeyPurpose.AUDIT))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    return elapsed, peak, report.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    results = []
    for size in (args.events, args.events * 4):
        with tempfile.TemporaryDirectory() as raw:
            url, keys = build_trail(Path(raw), size)
            base = baseline(url)
            elapsed, peak, ok = verify(url, keys)
            results.append((size, base, elapsed, peak, ok))
    for size, base, elapsed, peak, ok in results:
        print(
            f"events={size} verified={ok} verify={size / elapsed:,.0f} ev/s "
            f"baseline(hash only)={size / base:,.0f} ev/s ratio={elapsed / base:.1f}x "
            f"peak_memory={peak / 1e6:.1f} MB"
        )
    growth = results[1][3] / results[0][3]
    print(f"memory growth for 4x the events: {growth:.2f}x (flat is ~1x)")


if __name__ == "__main__":
    main()
