"""Whole-trail verifications as background jobs: verdict and first problem stored, one at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlmodel import Session

from gateway.audit import verify_jobs
from gateway.audit.models import AuditVerificationRow
from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.database import unit_of_work
from tests.audit.test_audit_subtrees import grow


def _request(container: Container, **fields: Any) -> AuditVerificationRow | None:
    with unit_of_work(container.engine) as session:
        return verify_jobs.request(
            session, requested_by=fields.get("by", "usr_dpo"), now=fields.get("now", utcnow())
        )


def _latest(container: Container) -> AuditVerificationRow:
    with Session(container.engine) as session:
        job = verify_jobs.latest(session)
        assert job is not None
        return job


def test_a_job_stores_the_verdict_and_the_first_problem(container: Container) -> None:
    grow(container, 12)
    with container.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        connection.execute(text("DELETE FROM audit_events WHERE seq = 7"))
    assert _request(container) is not None
    assert verify_jobs.run_queued(engine=container.engine, keys=container.keys) is not None
    job = _latest(container)
    assert (job.ok, job.first_bad_seq, job.problem) == (False, 7, "event 7 is missing")
    assert job.requested_by == "usr_dpo"
    assert job.active is None
    # Nothing is left to run.
    assert verify_jobs.run_queued(engine=container.engine, keys=container.keys) is None


def test_only_one_is_queued_or_running_at_a_time(container: Container) -> None:
    first = _request(container)
    assert first is not None
    assert _request(container) is None  # the first one is shown instead
    # Even written past ``request``: the database holds one unfinished job only.
    with pytest.raises(sqlalchemy.exc.IntegrityError), container.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_verifications (requested_at, active) VALUES (:now, :active)"),
            {"now": utcnow(), "active": True},
        )
    verify_jobs.run_queued(engine=container.engine, keys=container.keys)
    assert _request(container) is not None  # finished: the next one may start


def test_a_verification_that_fails_frees_the_slot_without_a_verdict(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(verify_jobs, "verify_trail", broken)
    _request(container)
    assert verify_jobs.run_queued(engine=container.engine, keys=container.keys) is None
    job = _latest(container)
    assert job.ok is None
    assert job.problem == "stopped by an error (RuntimeError)"
    assert job.finished_at is not None
    assert _request(container) is not None


def test_a_job_whose_process_ended_is_abandoned_after_an_hour(container: Container) -> None:
    start = utcnow()
    _request(container, now=start)
    assert _request(container, now=start + timedelta(minutes=59)) is None
    later = _request(container, now=start + verify_jobs.STALE_AFTER)
    assert later is not None
    with Session(container.engine) as session:
        rows = session.execute(
            text("SELECT id, problem, active FROM audit_verifications ORDER BY id")
        ).all()
    assert [(problem, active) for _id, problem, active in rows] == [
        (verify_jobs.ABANDONED, None),
        (None, True),
    ]
