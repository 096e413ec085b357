"""Whole-trail verifications started by data protection officers, run in the background.

``verify_trail`` reads every event: seconds at a million events, far too long
for a request, and a request that anyone with the role can repeat. So the
request only queues a job row (``request``) and returns; a thread (``start``)
runs the verification (``run_queued``) and stores its outcome, which the page
shows: when it started and finished, the verdict, the first problem.

Only one verification is queued or running at a time: the column
``audit_verifications.active`` is unique and set only while the job is
unfinished, so the database refuses a second one even across processes. A
job whose process died before it finished would keep that slot: after
``STALE_AFTER`` the next request ends it as abandoned and queues a new one.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.audit import repository
from gateway.audit.models import AuditVerificationRow
from gateway.audit.verify import VerifyReport, verify_trail, workers_for
from gateway.clock import as_utc, utcnow
from gateway.database import reader, unit_of_work
from gateway.keys import KeyPurpose, KeyStore

logger = structlog.get_logger(__name__)

# Far beyond the longest verification measured (8.5 s at a million events in parallel).
STALE_AFTER = timedelta(hours=1)
ABANDONED = "abandoned: no result within an hour (the process running it ended)"


def latest(session: Session) -> AuditVerificationRow | None:
    """The most recently requested verification, finished or not."""
    return repository.latest_verification(session)


def request(
    session: Session, *, requested_by: str | None, now: datetime
) -> AuditVerificationRow | None:
    """Queue a verification in the caller's transaction.

    Returns None when one is queued or running already (the caller shows
    that one); the caller commits, then calls ``start``.
    """
    current = repository.unfinished_verification(session)
    if current is not None and current.id is not None:
        if now - as_utc(current.started_at or current.requested_at) < STALE_AFTER:
            return None
        repository.finish_verification(
            session, job_id=current.id, values={"finished_at": now, "problem": ABANDONED}
        )
    row = AuditVerificationRow(requested_at=now, requested_by=requested_by)
    try:
        with session.begin_nested():
            repository.add_verification(session, row)
    except IntegrityError:
        return None  # another request queued one at the same moment
    return row


def run_queued(*, engine: Engine, keys: KeyStore) -> VerifyReport | None:
    """Run the queued verification, if any and not taken by another runner, and store its outcome.

    It reads without the write lock (``database.reader``), so writers go on
    meanwhile; on a long trail the events' checks run in worker processes, as
    ``gateway audit verify`` does, so this process keeps serving requests.
    """
    with unit_of_work(engine) as session:
        job = repository.unfinished_verification(session)
        if job is None or job.id is None or job.started_at is not None:
            return None
        job_id = job.id
        if not repository.claim_verification(session, job_id=job_id, now=utcnow()):
            return None
    report: VerifyReport | None = None
    try:
        with Session(reader(engine)) as session:
            report = verify_trail(
                session,
                keys=keys.verification_keys(KeyPurpose.AUDIT),
                workers=workers_for(session),
            )
        values: dict[str, object] = {
            "ok": report.ok,
            "events": report.events,
            "checkpoints": report.checkpoints,
            "first_bad_seq": report.first_bad_seq,
            "problem": report.problem,
        }
    except Exception as exc:
        # The slot must be freed whatever went wrong; the verdict stays open.
        logger.warning("audit_verification_failed", error_type=type(exc).__name__)
        values = {"ok": None, "problem": f"stopped by an error ({type(exc).__name__})"}
    with unit_of_work(engine) as session:
        repository.finish_verification(
            session, job_id=job_id, values={**values, "finished_at": utcnow()}
        )
    return report


def start(*, engine: Engine, keys: KeyStore) -> threading.Thread:
    """Run the queued verification in a thread of this process; returns the thread."""
    thread = threading.Thread(
        target=_run_logged,
        kwargs={"engine": engine, "keys": keys},
        name="audit-verify",
        daemon=True,
    )
    thread.start()
    return thread


def _run_logged(*, engine: Engine, keys: KeyStore) -> None:
    try:
        run_queued(engine=engine, keys=keys)
    except Exception as exc:
        # Nothing else would see it: a thread's exception ends the thread silently.
        logger.warning("audit_verification_not_run", error_type=type(exc).__name__)
