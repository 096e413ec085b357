"""Two gateway processes append to one trail under concurrent load: one chain, no fork, no gap."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.audit.models import AuditEventRow
from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.keys import KeyPurpose
from gateway.settings import Settings
from tests.support import World

GATEWAY = str(Path(sys.executable).with_name("gateway"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gateway_processes(settings: Settings, count: int) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "GATEWAY_ENV": "test",
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "GATEWAY_ISSUER": settings.issuer,
        "GATEWAY_AUDIT_CHECKPOINT_EVERY": "7",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    ports = [_free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [GATEWAY, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 30
        for base in bases:
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gateway at {base} did not start")
                time.sleep(0.2)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


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
