"""Real mutual TLS on loopback: the rest adapter against the simulator served by uvicorn.

Certificates come from certs-dev/generate.py into tmp directories; a second,
unrelated CA provides the certificates that must be refused.
"""

from __future__ import annotations

import queue
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request, Response
from jsonschema import Draft202012Validator

from adapters.base import (
    AdapterProtocolError,
    AdapterUnavailable,
    ConsentSummary,
    DeliveredQuery,
    DeliveryOutcome,
    PersonReference,
)
from adapters.rest import (
    RestAdapter,
    RestAdapterSettings,
    client_ssl_context,
    generate_callback_secret,
    verify_callback,
)
from adapters.simulator import SimulatorState, create_app
from tests.tls import load_certs_generator, serve_tls

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "certs-dev" / "generate.py"
GATEWAY_CLIENT = "gateway-client"
JOBCENTER_CLIENT = "jobcenter-landkreis-heilbronn"
TIMEOUT = 5.0  # every wait in this module is bounded


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_certs_generator().generate(
        tmp_path_factory.mktemp("certs"), clients=[GATEWAY_CLIENT, JOBCENTER_CLIENT]
    )


@pytest.fixture(scope="module")
def foreign_certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_certs_generator().generate(
        tmp_path_factory.mktemp("foreign"), clients=[GATEWAY_CLIENT]
    )


@pytest.fixture(scope="module")
def simulator_url(certs: Any) -> Iterator[str]:
    with serve_tls(create_app(), certs) as url:
        yield url


def settings(url: str, *, ca: Path, cert: Path, key: Path) -> RestAdapterSettings:
    return RestAdapterSettings(
        base_url=url,
        client_cert=cert,
        client_key=key,
        ca_bundle=ca,
        connect_timeout_seconds=1,
        read_timeout_seconds=2,
        backoff_base_seconds=0,
        max_attempts=2,
    )


def gateway_adapter(url: str, certs: Any, *, ca: Path | None = None) -> RestAdapter:
    client = certs.client(GATEWAY_CLIENT)
    return RestAdapter(
        jobcenter_key="JC-08121",
        settings=settings(url, ca=ca or certs.ca_cert, cert=client.cert, key=client.key),
    )


def make_query(question: str, *, query_id: str, callback_url: str | None = None) -> DeliveredQuery:
    return DeliveredQuery(
        query_id=query_id,
        jobcenter_key="JC-08121",
        question=question,
        purpose="benefit_coordination",
        direction="municipality_asks_jobcenter",
        person=PersonReference(
            subject_id="sub-1",
            given_name="Amina",
            family_name="Exampleson",
            birth_date=date(1990, 4, 12),
            jobcenter_customer_number="123D456789",
        ),
        consent=ConsentSummary(
            consent_id="con-1",
            purposes=("benefit_coordination",),
            categories=("benefit_status", "assigned_contact", "appointments"),
            valid_until=datetime(2026, 6, 30, tzinfo=UTC),
        ),
        deadline=datetime(2025, 12, 4, tzinfo=UTC),
        callback_url=callback_url,
    )


def answer_schema(question_id: str) -> Draft202012Validator:
    catalogue = yaml.safe_load((ROOT / "policies" / "questions.yaml").read_text("utf-8"))
    question = next(q for q in catalogue["questions"] if q["id"] == question_id)
    return Draft202012Validator(
        question["answer_schema"], format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def test_the_right_client_certificate_gets_catalogue_valid_answers(
    simulator_url: str, certs: Any
) -> None:
    with gateway_adapter(simulator_url, certs) as adapter:
        assert adapter.health().ok
        for index, question in enumerate(
            ["benefit_status", "assigned_contact", "upcoming_appointments"]
        ):
            delivery = adapter.deliver(make_query(question, query_id=f"mtls-{index}"))
            assert delivery.outcome is DeliveryOutcome.ANSWERED
            assert delivery.answer is not None
            assert not list(answer_schema(question).iter_errors(delivery.answer))
            assert adapter.fetch_answer(f"mtls-{index}") == delivery.answer


def test_a_client_certificate_of_another_ca_is_refused_quickly(
    simulator_url: str, certs: Any, foreign_certs: Any
) -> None:
    foreign = foreign_certs.client(GATEWAY_CLIENT)
    adapter = RestAdapter(
        jobcenter_key="JC-08121",
        settings=settings(simulator_url, ca=certs.ca_cert, cert=foreign.cert, key=foreign.key),
    )
    started = time.monotonic()
    with adapter, pytest.raises(AdapterUnavailable, match="unreachable"):
        adapter.deliver(make_query("benefit_status", query_id="foreign-1"))
    assert time.monotonic() - started < TIMEOUT


def test_a_server_outside_the_ca_bundle_is_refused(
    simulator_url: str, certs: Any, foreign_certs: Any
) -> None:
    started = time.monotonic()
    with (
        gateway_adapter(simulator_url, certs, ca=foreign_certs.ca_cert) as adapter,
        pytest.raises(AdapterUnavailable, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        adapter.deliver(make_query("benefit_status", query_id="untrusted-1"))
    assert time.monotonic() - started < TIMEOUT


def test_no_client_certificate_no_answer(simulator_url: str, certs: Any) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    with (
        httpx.Client(verify=context, timeout=2) as client,
        pytest.raises((httpx.ReadError, httpx.ConnectError, httpx.RemoteProtocolError)),
    ):
        client.get(f"{simulator_url}/health")


def test_async_answer_arrives_as_a_signed_callback_over_mutual_tls(certs: Any) -> None:
    secret = generate_callback_secret()
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    gateway = FastAPI()

    @gateway.post("/v1/adapter-callbacks/{jobcenter_key}")
    async def callback(jobcenter_key: str, request: Request) -> Response:
        try:
            message = verify_callback(
                secret=secret, headers=dict(request.headers), body=await request.body()
            )
        except AdapterProtocolError:
            return Response(status_code=401)
        received.put(message)
        return Response(status_code=204)

    jobcenter_client = certs.client(JOBCENTER_CLIENT)
    # Clients close before the servers they talk to: a TLS server waits for its
    # open keep-alive connections when it shuts down.
    with (
        serve_tls(gateway, certs) as gateway_url,
        httpx.Client(
            verify=client_ssl_context(
                cert=jobcenter_client.cert, key=jobcenter_client.key, ca_bundle=certs.ca_cert
            ),
            timeout=2,
        ) as callback_client,
    ):
        app = create_app(
            callback_secret=secret, answer_mode="async", callback_client=callback_client
        )
        state: SimulatorState = app.state.simulator
        with serve_tls(app, certs) as simulator, gateway_adapter(simulator, certs) as adapter:
            query = make_query(
                "benefit_status",
                query_id="async-1",
                callback_url=f"{gateway_url}/v1/adapter-callbacks/JC-08121",
            )
            assert adapter.deliver(query).outcome is DeliveryOutcome.ACCEPTED
            assert state.wait_for_callback("async-1", timeout=TIMEOUT) == 204
            message = received.get(timeout=TIMEOUT)
            assert message["query_id"] == "async-1"
            assert message["answer"] == adapter.fetch_answer("async-1")
            assert not list(answer_schema("benefit_status").iter_errors(message["answer"]))
