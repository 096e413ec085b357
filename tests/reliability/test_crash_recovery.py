"""A gateway process killed with SIGKILL in the middle of a load of asks, then started again.

Nothing acknowledged may be lost: every ask answered 201 is stored with its
``query.asked`` audit event, ``gateway audit verify`` accepts the trail, and
retrying an acknowledged ``Idempotency-Key`` is a replay (the same query id),
never a second query. Asks that got no answer may or may not have happened;
retried, each becomes exactly one query.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.settings import Settings
from tests.processes import GATEWAY, GatewayProcess, gateway_environment
from tests.reliability.caseload import (
    Load,
    assert_no_duplicate_keys,
    assert_stored_with_audit,
    persons_with_consents,
)
from tests.support import World

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.mark.slow
def test_a_killed_gateway_loses_no_acknowledged_ask(
    client: TestClient, world: World, container: Container, settings: Settings
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    subjects = persons_with_consents(client, world, manager, count=12)
    env = gateway_environment(settings)
    gateway = GatewayProcess(env)
    gateway.start()
    try:
        gateway.wait_ready()
        load = Load(base=lambda: gateway.base, headers=manager, subjects=subjects, prefix="crash")
        pool = load.run(workers=8)
        load.wait_for(60, timeout=120)
        gateway.kill()  # mid-load: requests are in flight in every worker
        load.stop.set()
        pool.shutdown(wait=True)
        acknowledged = load.acknowledged()
        unanswered = [attempt for attempt in load.attempts if attempt.status is None]
        assert len(acknowledged) >= 60
        assert all(a.status in {201, None} for a in load.attempts), {
            a.status for a in load.attempts
        }

        gateway.start()
        gateway.wait_ready()
        with httpx.Client(base_url=gateway.base, timeout=30) as http:
            for attempt in acknowledged:
                replay = http.post(
                    "/v1/queries",
                    json=attempt.body,
                    headers={**manager, "Idempotency-Key": attempt.key},
                )
                assert replay.status_code == 201, replay.text
                assert replay.json()["id"] == attempt.query_id
            for attempt in unanswered:
                retried = load.send(http, attempt)
                assert retried.status == 201, retried
    finally:
        gateway.stop()

    with Session(container.engine) as session:
        assert_stored_with_audit(session, acknowledged + unanswered)
        assert_no_duplicate_keys(session, "crash-")
    verify = subprocess.run(
        [GATEWAY, "audit", "verify", "--json"], env=env, capture_output=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
