"""Two gateway processes on one PostgreSQL under concurrent load.

The same ask (same Idempotency-Key) reaches both processes at the same moment,
as a case system's retry through a load balancer would: one query is stored,
both answers name it, and the audit trail stays one valid chain.
"""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.settings import Settings
from tests.processes import GATEWAY, gateway_environment, gateway_processes
from tests.reliability.caseload import (
    QUESTION,
    assert_no_duplicate_keys,
    persons_with_consents,
)
from tests.support import World

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

KEYS = 40


def test_one_key_sent_to_both_processes_at_once_is_one_query(
    client: TestClient, world: World, container: Container, settings: Settings
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    subjects = persons_with_consents(client, world, manager, count=2)
    with gateway_processes(settings, 2) as bases:

        def ask_both(index: int) -> list[tuple[int, dict[str, Any]]]:
            body = {"subject_id": subjects[index % len(subjects)], **QUESTION}
            headers = {**manager, "Idempotency-Key": f"twice-{index}"}
            start = threading.Barrier(2)
            answers: list[tuple[int, dict[str, Any]]] = []

            def send(base: str) -> None:
                with httpx.Client(base_url=base, timeout=30) as http:
                    start.wait()
                    response = http.post("/v1/queries", json=body, headers=headers)
                    answers.append((response.status_code, response.json()))

            threads = [threading.Thread(target=send, args=(base,)) for base in bases]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return answers

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(ask_both, range(KEYS)))

    for answers in outcomes:
        assert [status for status, _ in answers] == [201, 201], answers
        assert answers[0][1]["id"] == answers[1][1]["id"], answers
    with Session(container.engine) as session:
        assert_no_duplicate_keys(session, "twice-")
    env = gateway_environment(settings)
    verify = subprocess.run(
        [GATEWAY, "audit", "verify", "--json"], env=env, capture_output=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
