"""Two gateway processes append to one trail under concurrent load: one chain, no fork, no gap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.audit.models import AuditEventRow
from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.keys import KeyPurpose
from gateway.settings import Settings
from tests.processes import gateway_processes
from tests.support import World


def test_two_processes_keep_one_chain(
    container: Container, world: World, settings: Settings
) -> None:
    requests_per_worker = 15
    workers = 6
    with gateway_processes(settings, 2) as bases:

        def work(worker: int) -> int:
            ok = 0
            with httpx.Client(timeout=30) as http:
                for index in range(requests_per_worker):
                    base = bases[(worker + index) % len(bases)]
                    form = world.case_system.auth_form(grant_type="client_credentials")
                    if http.post(f"{base}/oauth/token", data=form).status_code == 200:
                        ok += 1
            return ok

        with ThreadPoolExecutor(max_workers=workers) as pool:
            issued = sum(pool.map(work, range(workers)))

    assert issued == requests_per_worker * workers
    with Session(container.engine) as session:
        tokens = session.exec(
            select(func.count())
            .select_from(AuditEventRow)
            .where(AuditEventRow.event_type == "token.issued")
        ).one()
        report = verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT))
    assert tokens == issued
    assert report.ok, report.problem
    assert report.checkpoints >= issued // 7


@pytest.mark.slow
def test_two_processes_under_longer_load(
    container: Container, world: World, settings: Settings
) -> None:
    with gateway_processes(settings, 2) as bases:

        def work(worker: int) -> int:
            ok = 0
            with httpx.Client(timeout=30) as http:
                for index in range(100):
                    form = world.case_system.auth_form(grant_type="client_credentials")
                    base = bases[(worker + index) % 2]
                    ok += http.post(f"{base}/oauth/token", data=form).status_code == 200
            return ok

        with ThreadPoolExecutor(max_workers=8) as pool:
            issued = sum(pool.map(work, range(8)))
    with Session(container.engine) as session:
        report = verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT))
    assert issued == 800
    assert report.ok, report.problem
