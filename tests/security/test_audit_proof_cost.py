"""Finding 16: proofs read every leaf hash, and a web verification ran inside the request.

An inclusion or consistency proof read the leaf hash of every event up to the
tree size, so anyone could make the gateway read the whole trail per call;
any officer could run a whole-chain verification inside a request (18 s at a
million events). Now a proof reads stored subtree roots (O(log n) rows,
whatever the trail's length), and the web's "verify" only queues a job that
runs in the background; the page shows its latest result.

Rows read are counted with SQLAlchemy's ``after_cursor_execute`` event: each
SELECT a proof runs is recorded with its parameters and run again afterwards,
on the unchanged database, to count the rows it returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.app import create_app
from gateway.audit import subtrees, verify_jobs
from gateway.audit.service import Actor, AuditEvent
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations import repository as organisations
from gateway.settings import Settings
from tests.support import World
from tests.web.conftest import fast_accounts
from tests.web.pages import PASSWORD, Browser, Page

SMALL, LARGE = 100, 2000
OLD_SIZE = 37  # the first checkpoint, for consistency proofs


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Checkpoints only where a test signs one, so the trails are quick to build.
    return settings.model_copy(update={"audit_checkpoint_every": 100_000})


def _record(container: Container, count: int) -> None:
    with unit_of_work(container.engine) as session:
        for index in range(count):
            container.audit.record(
                session,
                AuditEvent(
                    type="test.event", actor=Actor(organisation_id="org_a"), details={"n": index}
                ),
            )


def _sign(container: Container) -> None:
    with Session(container.engine) as session:
        container.audit.checkpoint_if_due(session, force=True)
        session.commit()


@dataclass
class Reads:
    statements: int
    rows: int


def _reads(engine: Engine, work: Any) -> Reads:
    """The SELECT statements ``work`` runs on ``engine`` and the rows they return."""
    selects: list[tuple[str, Any]] = []

    def seen(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    event.listen(engine, "after_cursor_execute", seen)
    try:
        work()
    finally:
        event.remove(engine, "after_cursor_execute", seen)
    with engine.connect() as connection:
        rows = sum(
            len(connection.exec_driver_sql(statement, parameters).all())
            for statement, parameters in selects
        )
    return Reads(statements=len(selects), rows=rows)


def _proof_reads(container: Container, size: int) -> list[Reads]:
    """What the inclusion proofs of the first, a middle and the last event and a consistency
    proof read at tree ``size`` (the latest checkpoint)."""
    audit = container.audit

    def inclusion(seq: int) -> None:
        with Session(container.engine) as session:
            proof = audit.inclusion_proof(session, seq=seq, tree_size=None)
            assert proof["tree_size"] == size

    def consistency() -> None:
        with Session(container.engine) as session:
            audit.consistency_proof(session, first=OLD_SIZE, second=size)

    found = [_reads(container.engine, lambda s=seq: inclusion(s)) for seq in (1, size // 2, size)]
    return [*found, _reads(container.engine, consistency)]


def test_a_proof_reads_the_same_few_rows_at_100_and_2000_events(container: Container) -> None:
    _record(container, OLD_SIZE)
    _sign(container)
    _record(container, SMALL - OLD_SIZE)
    _sign(container)
    small = _proof_reads(container, SMALL)
    for _ in range((LARGE - SMALL) // 500):
        _record(container, 500)
    _record(container, LARGE - SMALL - (LARGE - SMALL) // 500 * 500)
    _sign(container)
    large = _proof_reads(container, LARGE)

    for at_small, at_large in zip(small, large, strict=True):
        # The same statements, whatever the trail's length ...
        assert at_large.statements == at_small.statements
        # ... and about as many rows: at most two stored roots for each of the 5 more tree
        # levels (20 times as many events), and the leaves of one more block of the lowest
        # levels, which are not stored. Before, every leaf hash: 100 and 2000 rows.
        assert at_large.rows <= at_small.rows + 2 * 5 + subtrees.BLOCK, (small, large)
        assert at_large.rows < LARGE // 20, (small, large)


# -- the web's verification runs in the background ---------------------------------------------


@pytest.fixture
def officer(container: Container, world: World) -> Iterator[Browser]:
    """A browser signed in as the operator's data protection officer."""
    app = create_app(container=container)
    accounts = fast_accounts(container)
    app.state.web.accounts = accounts
    with unit_of_work(container.engine) as session:
        accounts.set_password(session, user_id=world.operator_dpo, password=PASSWORD)
        user = organisations.get_user(session, world.operator_dpo)
        assert user is not None
        email = user.email
    with start_blocking_portal() as portal:
        browser = Browser(app, portal=portal)
        assert browser.sign_in(email).status == 303
        yield browser


class _Held:
    """``verify_trail`` that waits until released, so a test sees the job while it runs."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.release.wait(30), "the test never released the verification"
        return self._real(*args, **kwargs)


def _jobs(container: Container) -> int:
    with container.engine.connect() as connection:
        return int(
            connection.execute(text("SELECT count(*) FROM audit_verifications")).scalar_one()
        )


def _until_finished(officer: Browser) -> Page:
    deadline = time.monotonic() + 30
    while True:
        page = officer.get("/web/audit/verify")
        if "A verification is running." not in page.main_text():
            return page
        assert time.monotonic() < deadline, "the verification never finished"
        time.sleep(0.05)


def test_the_web_verification_returns_at_once_and_its_result_is_shown_after_the_job(
    container: Container, officer: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = _Held(verify_jobs.verify_trail)
    monkeypatch.setattr(verify_jobs, "verify_trail", held)
    page = officer.get("/web/audit/verify")
    assert page.status == 200
    assert "No verification of the whole trail has run yet." in page.main_text()

    started = officer.submit(page, "/web/audit/verify")
    # The request came back while the verification was still held: it did not wait for it.
    assert started.status == 303
    assert started.location == "/web/audit/verify"
    assert not held.release.is_set()
    assert held.entered.wait(10), "the verification did not start in the background"

    running = officer.get("/web/audit/verify")
    assert "A verification is running." in running.main_text()
    # One at a time: no button while one runs, and a second request queues nothing.
    assert running.doc.find("form", action="/web/audit/verify") is None
    again = officer.post(
        "/web/audit/verify", {"csrf_token": running.csrf_token("/web/audit/checkpoint")}
    )
    assert again.status == 303
    assert _jobs(container) == 1

    held.release.set()
    shown = _until_finished(officer)
    text_shown = shown.main_text()
    assert "The audit trail is intact." in text_shown
    assert "Started at" in text_shown
    assert "Finished at" in text_shown
    with Session(container.engine) as session:
        job = verify_jobs.latest(session)
        assert job is not None
        assert job.ok is True
        assert job.started_at is not None
        assert job.finished_at is not None
        assert job.finished_at >= job.started_at
        assert job.events is not None
        assert job.events > 0
        assert job.active is None  # the slot is free for the next one
    # The next one can be started from the page again.
    assert shown.doc.find("form", action="/web/audit/verify") is not None
