"""Slow, failing and hanging jobcenter systems must not hold up the rest of the gateway.

Two simulated jobcenter systems are served over mutual TLS on loopback, each
reached through its own ``RestAdapter`` (its own timeouts and circuit breaker).
One is made to hang; asks routed to the other keep their latency, no ask waits
longer than the adapter's timeout, and once the hanging one's breaker is open
asks to it return at once (the query waits in the database for a later try).
Many asks to the hanging one at the same moment meet the adapter's bulkhead
instead: only ``max_in_flight`` wait, the others are refused at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.registry import AdapterRegistry
from adapters.rest import RestAdapter, RestAdapterSettings
from adapters.simulator import SimulatorFaults
from adapters.simulator import create_app as create_simulator
from gateway.bootstrap import Container
from tests.support import PERSON, World
from tests.tls import load_certs_generator, serve_tls

# The adapter is the same on either database; SQLite keeps this in the normal suite.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
READ_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
BREAKER_THRESHOLD = 2
MAX_IN_FLIGHT = 2
# The healthy jobcenter's asks are answered well inside the hanging one's timeout.
HEALTHY_BOUND = 1.5
# An ask to the hanging jobcenter waits one read timeout, plus the gateway's own work.
HANGING_BOUND = CONNECT_TIMEOUT + READ_TIMEOUT + 1.0


@dataclass
class Jobcenters:
    hanging: SimulatorFaults
    healthy: SimulatorFaults
    registry: AdapterRegistry


def _adapter(key: str, url: str, certs_dir: Path) -> RestAdapter:
    return RestAdapter(
        jobcenter_key=key,
        settings=RestAdapterSettings(
            base_url=url,  # validated into an HttpsUrl
            client_cert=certs_dir / "client-gateway-client.pem",
            client_key=certs_dir / "client-gateway-client-key.pem",
            ca_bundle=certs_dir / "ca.pem",
            connect_timeout_seconds=CONNECT_TIMEOUT,
            read_timeout_seconds=READ_TIMEOUT,
            max_attempts=1,
            breaker_threshold=BREAKER_THRESHOLD,
            breaker_reset_seconds=60,
            max_in_flight=MAX_IN_FLIGHT,
        ),
    )


@pytest.fixture
def jobcenters(container: Container, tmp_path: Path) -> Iterator[Jobcenters]:
    certs = load_certs_generator().generate(tmp_path / "certs", clients=["gateway-client"])
    certs_dir = Path(certs.ca_cert).parent
    hanging, healthy = SimulatorFaults(), SimulatorFaults()
    with (
        serve_tls(create_simulator(faults=hanging), certs) as hanging_url,
        serve_tls(create_simulator(faults=healthy), certs) as healthy_url,
    ):
        registry = AdapterRegistry(
            {
                "JC-08125": _adapter("JC-08125", hanging_url, certs_dir),
                "JC-99999": _adapter("JC-99999", healthy_url, certs_dir),
            }
        )
        # The composition root's registry follows policies/routing.yaml; this test routes
        # both jobcenters of the test world to simulators instead.
        container.adapters.close()
        container.adapters = registry
        container.queries.adapters = registry
        try:
            yield Jobcenters(hanging=hanging, healthy=healthy, registry=registry)
        finally:
            # Let held requests finish and close the gateway's connections before the
            # simulators stop, or their event loops close under open transports.
            hanging.hang = False
            registry.close()
            time.sleep(0.2)


class Asker:
    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.headers = world.case_system.bearer(client, user_id=world.manager)
        self.keys = 0
        self.lock = threading.Lock()

    def person_with_consent(self, jobcenter_id: str, given_name: str) -> str:
        person = {**PERSON, "given_name": given_name}
        subject = self.client.post("/v1/subjects", json=person, headers=self.headers).json()["id"]
        consent = self.client.post(
            "/v1/consents",
            json={
                "subject_id": subject,
                "jobcenter_id": jobcenter_id,
                "purposes": ["benefit_coordination"],
                "categories": ["benefit_status"],
                "directions": ["municipality_asks_jobcenter"],
                "valid_until": (date.today() + timedelta(days=180)).isoformat(),
                "language": "de",
                "evidence": {"channel": "paper_signature"},
            },
            headers=self.headers,
        )
        assert consent.status_code == 201, consent.text
        return str(subject)

    def ask(self, subject: str) -> tuple[float, dict[str, Any]]:
        with self.lock:
            self.keys += 1
            key = f"slow-{self.keys}"
        started = time.monotonic()
        response = self.client.post(
            "/v1/queries",
            json={
                "subject_id": subject,
                "question": "benefit_status",
                "purpose": "benefit_coordination",
            },
            headers={**self.headers, "Idempotency-Key": key},
        )
        seconds = time.monotonic() - started
        assert response.status_code == 201, response.text
        return seconds, dict(response.json())


def test_a_hanging_jobcenter_does_not_slow_down_another(
    client: TestClient, world: World, jobcenters: Jobcenters
) -> None:
    asker = Asker(client, world)
    stuck = asker.person_with_consent(world.jobcenter, "Stuck")
    # Several persons: one user may ask 20 questions a day about one (policies/limits.yaml).
    fine = [asker.person_with_consent(world.other_jobcenter, f"Fine{n}") for n in range(4)]
    for subject in fine:  # warm: TLS sessions, first-use imports
        _, query = asker.ask(subject)
        assert query["status"] == "answered", query

    jobcenters.hanging.hang = True
    hanging_asks: list[tuple[float, dict[str, Any]]] = []
    healthy_asks: list[tuple[float, dict[str, Any]]] = []

    def ask_the_hanging_one() -> None:
        for _ in range(BREAKER_THRESHOLD + 3):
            hanging_asks.append(asker.ask(stuck))

    worker = threading.Thread(target=ask_the_hanging_one)
    worker.start()
    while worker.is_alive() and len(healthy_asks) < 60:
        healthy_asks.append(asker.ask(fine[len(healthy_asks) % len(fine)]))
        time.sleep(0.05)
    worker.join()

    # The healthy jobcenter answered throughout, each time well inside the other's timeout.
    assert len(healthy_asks) >= 3
    assert all(query["status"] == "answered" for _, query in healthy_asks)
    assert max(seconds for seconds, _ in healthy_asks) < HEALTHY_BOUND, healthy_asks

    # Asks to the hanging one waited one timeout each until the breaker opened, then none.
    assert all(query["status"] == "received" for _, query in hanging_asks), hanging_asks
    assert all(seconds < HANGING_BOUND for seconds, _ in hanging_asks), hanging_asks
    waited = [seconds for seconds, _ in hanging_asks[:BREAKER_THRESHOLD]]
    assert all(seconds >= READ_TIMEOUT * 0.9 for seconds in waited), waited
    assert all(seconds < 0.75 * READ_TIMEOUT for seconds, _ in hanging_asks[BREAKER_THRESHOLD:])
    assert jobcenters.hanging.affected == BREAKER_THRESHOLD  # the open circuit spared it
    hanging_adapter = jobcenters.registry.for_key("JC-08125")
    assert isinstance(hanging_adapter, RestAdapter)
    assert hanging_adapter.circuit_state == "open"


def test_slow_and_failing_jobcenters_are_told_apart(
    client: TestClient, world: World, jobcenters: Jobcenters
) -> None:
    asker = Asker(client, world)
    subject = asker.person_with_consent(world.jobcenter, "Slow")

    jobcenters.hanging.delay_seconds = 0.5 * READ_TIMEOUT  # slow, but inside the timeout
    seconds, query = asker.ask(subject)
    assert query["status"] == "answered", query
    assert 0.5 * READ_TIMEOUT <= seconds < HANGING_BOUND

    jobcenters.hanging.delay_seconds = 0
    jobcenters.hanging.fail_status = 503  # down: the query waits for a later delivery
    seconds, query = asker.ask(subject)
    assert query["status"] == "received", query
    assert seconds < READ_TIMEOUT
    read = client.get(f"/v1/queries/{query['id']}", headers=asker.headers).json()
    assert read["status"] == "received"

    jobcenters.hanging.fail_status = None  # back: the next ask is answered again
    seconds, query = asker.ask(subject)
    assert query["status"] == "answered", query


def test_a_burst_to_a_hanging_jobcenter_meets_the_bulkhead(
    client: TestClient, world: World, jobcenters: Jobcenters
) -> None:
    asker = Asker(client, world)
    stuck = [asker.person_with_consent(world.jobcenter, f"Stuck{n}") for n in range(6)]
    fine = [asker.person_with_consent(world.other_jobcenter, f"Fine{n}") for n in range(3)]
    for subject in fine:
        _, query = asker.ask(subject)
        assert query["status"] == "answered", query

    jobcenters.hanging.hang = True
    burst: list[tuple[float, dict[str, Any]]] = []
    threads = [
        threading.Thread(target=lambda subject=subject: burst.append(asker.ask(subject)))
        for subject in stuck
    ]
    for thread in threads:
        thread.start()
    healthy: list[tuple[float, dict[str, Any]]] = []
    while any(thread.is_alive() for thread in threads) and len(healthy) < 45:
        healthy.append(asker.ask(fine[len(healthy) % len(fine)]))
        time.sleep(0.05)
    for thread in threads:
        thread.join()

    assert all(query["status"] == "received" for _, query in burst), burst
    # Only MAX_IN_FLIGHT asks waited for the hanging system's timeout; the others were
    # refused before the network (they queue only for the database's write lock).
    durations = sorted(seconds for seconds, _ in burst)
    waited = [seconds for seconds in durations if seconds >= 0.9 * READ_TIMEOUT]
    assert len(waited) == MAX_IN_FLIGHT, durations
    assert all(seconds < HANGING_BOUND for seconds in waited), durations
    assert jobcenters.hanging.affected == MAX_IN_FLIGHT
    assert healthy
    assert all(query["status"] == "answered" for _, query in healthy)
    assert max(seconds for seconds, _ in healthy) < HEALTHY_BOUND, healthy
