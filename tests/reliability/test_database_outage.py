"""The database goes away and comes back: 503 problem details meanwhile, recovery without help.

Honest about the method: the machine's PostgreSQL is shared and is never
stopped. The gateway reaches it through ``tests.tcp_proxy.TcpProxy``, and the
outage is the proxy's ``cut()``: new connections are refused and open ones
reset, which is what the gateway sees when the database host fails. A database
that stops answering without resetting (a black hole) is not simulated.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlmodel import Session

from gateway.app import create_app
from gateway.bootstrap import Container, build
from gateway.settings import Settings
from tests.processes import GatewayProcess, gateway_environment
from tests.reliability.caseload import (
    Load,
    assert_no_duplicate_keys,
    assert_stored_with_audit,
    persons_with_consents,
)
from tests.support import World, make_world
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
REQUEST_BOUND_SECONDS = 10.0
RECOVERY_SECONDS = 10.0


def _through(proxy: TcpProxy, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    with TcpProxy(upstream_host=url.host or "127.0.0.1", upstream_port=url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
def proxied_settings(settings: Settings, proxy: TcpProxy, database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": _through(proxy, database_url)})


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/database-unavailable"
    assert int(response.headers["retry-after"]) >= 1


def _until_ok(call: object, *, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = call()  # type: ignore[operator]
        if response.status_code < 500 or time.monotonic() > deadline:
            return response  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_an_outage_answers_503_and_the_gateway_recovers_by_itself(
    proxied_settings: Settings, proxy: TcpProxy
) -> None:
    container = build(proxied_settings)
    try:
        world = make_world(container)
        with TestClient(create_app(container=container)) as client:
            manager = world.case_system.bearer(client, user_id=world.manager)
            subjects = persons_with_consents(client, world, manager, count=1)
            asked = client.post(
                "/v1/queries",
                json={
                    "subject_id": subjects[0],
                    "question": "benefit_status",
                    "purpose": "benefit_coordination",
                },
                headers={**manager, "Idempotency-Key": "before-the-outage"},
            )
            assert asked.status_code == 201, asked.text
            query = f"/v1/queries/{asked.json()['id']}"

            proxy.cut()
            for call in (
                lambda: client.get(query, headers=manager),
                lambda: client.post(
                    "/v1/queries",
                    json={
                        "subject_id": subjects[0],
                        "question": "benefit_status",
                        "purpose": "benefit_coordination",
                    },
                    headers={**manager, "Idempotency-Key": "during-the-outage"},
                ),
                lambda: world.case_system.token(client, user_id=world.manager),
            ):
                started = time.monotonic()
                response = call()
                assert time.monotonic() - started < REQUEST_BOUND_SECONDS
                _assert_unavailable(response)
            assert client.get("/readyz").status_code == 503

            proxy.restore()
            read = _until_ok(lambda: client.get(query, headers=manager), timeout=RECOVERY_SECONDS)
            assert read.status_code == 200, read.text
            assert read.json()["status"] == "routed"
            assert client.get("/readyz").status_code == 200
    finally:
        container.close()


@pytest.mark.slow
def test_a_serving_gateway_rides_out_an_outage_under_load(
    client: TestClient,
    world: World,
    container: Container,
    settings: Settings,
    proxy: TcpProxy,
    database_url: str,
) -> None:
    manager = world.case_system.bearer(client, user_id=world.manager)
    subjects = persons_with_consents(client, world, manager, count=15)
    gateway = GatewayProcess(
        gateway_environment(settings, database_url=_through(proxy, database_url)),
        log=settings.data_dir / "gateway.log",
    )
    gateway.start()
    try:
        gateway.wait_ready()
        load = Load(
            base=lambda: gateway.base,
            headers=manager,
            subjects=subjects,
            prefix="outage",
            pause=0.05,
        )
        pool = load.run(workers=6)
        load.wait_for(30, timeout=120)
        cut_at = time.monotonic()
        proxy.cut()
        time.sleep(4)
        proxy.restore()
        restored_at = time.monotonic()
        ready = _until_ok(lambda: httpx.get(f"{gateway.base}/readyz"), timeout=RECOVERY_SECONDS)
        assert ready.status_code == 200, ready.text
        assert time.monotonic() - restored_at < RECOVERY_SECONDS
        load.wait_for(len(load.acknowledged()) + 30, timeout=60)
        load.stop.set()
        pool.shutdown(wait=True)

        attempts = load.attempts
        outcomes = {(a.status, a.error) for a in attempts}
        assert {status for status, _ in outcomes} <= {201, 503}, outcomes
        refused = [a for a in attempts if a.status == 503]
        assert refused, "no request met the outage"
        assert all(cut_at <= a.ended for a in refused)
        for attempt in refused:
            assert attempt.media_type == "application/problem+json"
            assert attempt.problem_type == "/problems/database-unavailable"
        slowest = max(a.seconds for a in attempts)
        assert slowest < REQUEST_BOUND_SECONDS, slowest
        recovered = min(a.ended for a in attempts if a.acknowledged and a.ended > restored_at)
        assert recovered - restored_at < RECOVERY_SECONDS

        with httpx.Client(base_url=gateway.base, timeout=30) as http:
            for attempt in load.acknowledged():
                replay = http.post(
                    "/v1/queries",
                    json=attempt.body,
                    headers={**manager, "Idempotency-Key": attempt.key},
                )
                assert replay.status_code == 201, replay.text
                assert replay.json()["id"] == attempt.query_id
            for attempt in refused:
                assert load.send(http, attempt).status == 201, attempt
    finally:
        gateway.stop()

    with Session(container.engine) as session:
        assert_stored_with_audit(session, load.attempts)
        assert_no_duplicate_keys(session, "outage-")
