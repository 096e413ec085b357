"""The rest adapter against a mocked jobcenter (respx): retries, errors, breaker, callbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError
from structlog.testing import capture_logs

from adapters.base import (
    AdapterProtocolError,
    AdapterRejected,
    AdapterTimeout,
    AdapterUnavailable,
    CircuitOpen,
    ConsentSummary,
    DeliveredQuery,
    DeliveryOutcome,
    JobcenterAdapter,
    PersonReference,
)
from adapters.rest import (
    RestAdapter,
    RestAdapterSettings,
    generate_callback_secret,
    is_valid_traceparent,
    query_to_json,
    sign_callback,
    verify_callback,
)

BASE_URL = "https://jobcenter.test/gateway/v1"
JOBCENTER = "JC-08121"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ANSWER = {"receives_benefit": True, "approved_until": "2026-03-31"}
# What must never show up in logs or exception messages.
PERSONAL = ("Amina", "Exampleson", "1990-04-12", "12.04.1990", "123D456789", "2026-03-31")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_query(
    *, query_id: str = "qry-1", traceparent: str | None = TRACEPARENT, **changes: Any
) -> DeliveredQuery:
    values: dict[str, Any] = {
        "query_id": query_id,
        "jobcenter_key": JOBCENTER,
        "question": "benefit_status",
        "purpose": "benefit_coordination",
        "direction": "municipality_asks_jobcenter",
        "person": PersonReference(
            subject_id="sub-1",
            given_name="Amina",
            family_name="Exampleson",
            birth_date=date(1990, 4, 12),
            jobcenter_customer_number="123D456789",
        ),
        "consent": ConsentSummary(
            consent_id="con-1",
            purposes=("benefit_coordination",),
            categories=("benefit_status",),
            valid_until=datetime(2026, 6, 30, 22, 0, tzinfo=UTC),
        ),
        "deadline": datetime(2025, 12, 4, 23, 0),  # naive, as SQLite hands it back: UTC
        "callback_url": "https://gateway.test/v1/adapter-callbacks/JC-08121",
        "traceparent": traceparent,
    }
    values.update(changes)
    return DeliveredQuery(**values)


def make_settings(**changes: Any) -> RestAdapterSettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        # never opened: every test here injects a transport
        "client_cert": Path("/nonexistent/client.pem"),
        "client_key": Path("/nonexistent/client-key.pem"),
        "ca_bundle": Path("/nonexistent/ca.pem"),
        "backoff_base_seconds": 0,
    }
    values.update(changes)
    return RestAdapterSettings(**values)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.MockRouter(base_url=BASE_URL, assert_all_called=False) as mock_router:
        yield mock_router


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_adapter(
    router: respx.MockRouter,
    *,
    clock: FakeClock | None = None,
    sleeps: list[float] | None = None,
    **settings: Any,
) -> RestAdapter:
    recorded = sleeps if sleeps is not None else []
    return RestAdapter(
        jobcenter_key=JOBCENTER,
        settings=make_settings(**settings),
        transport=httpx.MockTransport(router.handler),
        clock=clock or FakeClock(),
        sleep=recorded.append,
    )


def answered(answer: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json={"status": "answered", "answer": answer or ANSWER})


def problem(status: int, **fields: Any) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps({"status": status, **fields}).encode(),
        headers={"content-type": "application/problem+json"},
    )


# ----------------------------------------------------------------------------- the port


def test_rest_adapter_satisfies_the_port(router: respx.MockRouter) -> None:
    adapter: JobcenterAdapter = make_adapter(router)
    assert adapter.kind == "rest"


def test_sync_answer_is_delivered_with_idempotency_key_and_json_body(
    router: respx.MockRouter,
) -> None:
    route = router.post("/queries").mock(return_value=answered())
    query = make_query()

    delivery = make_adapter(router).deliver(query)

    assert delivery.outcome is DeliveryOutcome.ANSWERED
    assert delivery.answer == ANSWER
    request = route.calls.last.request
    assert request.url == f"{BASE_URL}/queries"
    assert request.headers["Idempotency-Key"] == "qry-1"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == query_to_json(query)


def test_async_acceptance_then_answer_by_polling(router: respx.MockRouter) -> None:
    router.post("/queries").mock(return_value=httpx.Response(202, json={"status": "accepted"}))
    poll = router.get("/queries/qry-1/answer").mock(
        side_effect=[httpx.Response(202, json={"status": "pending"}), answered()]
    )
    adapter = make_adapter(router)

    delivery = adapter.deliver(make_query())

    assert delivery.outcome is DeliveryOutcome.ACCEPTED
    assert delivery.answer is None
    assert adapter.fetch_answer("qry-1") is None
    assert adapter.fetch_answer("qry-1") == ANSWER
    assert poll.call_count == 2


def test_traceparent_is_forwarded_unchanged(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(return_value=answered())
    make_adapter(router).deliver(make_query())
    assert route.calls.last.request.headers["traceparent"] == TRACEPARENT


def test_malformed_traceparent_is_not_forwarded(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(return_value=answered())
    make_adapter(router).deliver(make_query(traceparent="00-nonsense-01"))
    assert "traceparent" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (TRACEPARENT, True),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),  # zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),  # zero parent id
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),  # forbidden version
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),  # upper case
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", False),  # v00 has 4 parts
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", True),  # future version
    ],
)
def test_traceparent_validation_follows_w3c_trace_context(value: str, valid: bool) -> None:
    assert is_valid_traceparent(value) is valid


def test_misrouted_query_is_refused_without_a_request(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(return_value=answered())
    with pytest.raises(AdapterRejected):
        make_adapter(router).deliver(make_query(jobcenter_key="JC-99999"))
    assert route.call_count == 0


def test_query_to_json_writes_iso_dates_and_utc_times() -> None:
    query = make_query(
        deadline=datetime(2025, 12, 5, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        parameters={"starts_on": date(2026, 1, 1)},
    )
    body = query_to_json(query)
    assert body["person"]["birth_date"] == "1990-04-12"
    assert body["deadline"] == "2025-12-04T23:00:00Z"
    assert body["consent"]["valid_until"] == "2026-06-30T22:00:00Z"
    assert query_to_json(make_query())["deadline"] == "2025-12-04T23:00:00Z"  # naive is UTC
    assert "traceparent" not in body
    assert body["callback_url"] == "https://gateway.test/v1/adapter-callbacks/JC-08121"


def test_parameters_with_dates_are_serialised(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(return_value=answered())
    make_adapter(router).deliver(make_query(parameters={"starts_on": date(2026, 1, 1)}))
    assert json.loads(route.calls.last.request.content)["parameters"] == {"starts_on": "2026-01-01"}


# ----------------------------------------------------------------------------- retries


def test_timeouts_are_retried_with_the_same_idempotency_key_then_give_up(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = router.post("/queries").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(AdapterTimeout) as raised:
        make_adapter(router, sleeps=sleeps).deliver(make_query())

    assert raised.value.retryable
    assert route.call_count == 3
    assert [call.request.headers["Idempotency-Key"] for call in route.calls] == ["qry-1"] * 3
    assert len({call.request.content for call in route.calls}) == 1


def test_backoff_is_exponential(router: respx.MockRouter, sleeps: list[float]) -> None:
    router.post("/queries").mock(side_effect=httpx.ConnectTimeout("no syn-ack"))
    with pytest.raises(AdapterTimeout):
        make_adapter(router, sleeps=sleeps, backoff_base_seconds=0.2, max_attempts=4).deliver(
            make_query()
        )
    assert sleeps == pytest.approx([0.2, 0.4, 0.8])


def test_server_error_then_success_is_answered_after_a_retry(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(
        side_effect=[httpx.Response(503, text="<html>busy</html>"), answered()]
    )
    delivery = make_adapter(router).deliver(make_query())
    assert delivery.answer == ANSWER
    assert route.call_count == 2


def test_persistent_server_errors_make_the_jobcenter_unavailable(
    router: respx.MockRouter,
) -> None:
    route = router.post("/queries").mock(return_value=httpx.Response(500))
    with pytest.raises(AdapterUnavailable) as raised:
        make_adapter(router).deliver(make_query())
    assert "HTTP 500" in raised.value.message
    assert route.call_count == 3


def test_connection_errors_make_the_jobcenter_unavailable(router: respx.MockRouter) -> None:
    route = router.post("/queries").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(AdapterUnavailable):
        make_adapter(router).deliver(make_query())
    assert route.call_count == 3


@pytest.mark.parametrize("status", [408, 409, 429])
def test_transient_client_errors_are_retried(router: respx.MockRouter, status: int) -> None:
    route = router.post("/queries").mock(side_effect=[problem(status), answered()])
    assert make_adapter(router).deliver(make_query()).answer == ANSWER
    assert route.call_count == 2


def test_a_body_slower_than_the_budget_times_out(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    def trickle() -> Iterator[bytes]:
        for byte in b'{"status": "answered", "answer": {}}':
            clock.now += 1.0  # each byte arrives within the read timeout, the whole does not
            yield bytes([byte])

    route = router.post("/queries").mock(
        return_value=httpx.Response(
            200, headers={"content-type": "application/json"}, content=trickle()
        )
    )
    with pytest.raises(AdapterTimeout):
        make_adapter(router, clock=clock, max_attempts=1).deliver(make_query())
    assert route.call_count == 1


# ----------------------------------------------------------------------------- off contract


def json_bytes(content: bytes, media_type: str = "application/json") -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": media_type})


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(json_bytes(b'{"status": "answered", "answer": '), id="truncated-json"),
        pytest.param(json_bytes(b"<html>Wartung</html>", "text/html"), id="html"),
        pytest.param(json_bytes(b'{"status": "answered", "answer": NaN}'), id="nan"),
        pytest.param(json_bytes(b"[" * 100_000 + b"]" * 100_000), id="deep-nesting"),
        pytest.param(httpx.Response(200, json=["answered"]), id="array"),
        pytest.param(httpx.Response(200, json={"status": "accepted"}), id="wrong-status"),
        pytest.param(
            httpx.Response(200, json={"status": "answered", "answer": "yes"}),
            id="answer-not-object",
        ),
        pytest.param(
            httpx.Response(200, json={"status": "answered", "answer": {}, "query_id": "qry-2"}),
            id="other-query",
        ),
        pytest.param(
            httpx.Response(202, json={"status": "answered", "answer": {}}), id="202-answered"
        ),
        pytest.param(httpx.Response(201, json={"status": "answered", "answer": {}}), id="201"),
        pytest.param(
            httpx.Response(302, headers={"location": "https://elsewhere.test/queries"}),
            id="redirect",
        ),
    ],
)
def test_off_contract_responses_are_protocol_errors_and_not_retried(
    router: respx.MockRouter, response: httpx.Response
) -> None:
    route = router.post("/queries").mock(return_value=response)
    with pytest.raises(AdapterProtocolError) as raised:
        make_adapter(router).deliver(make_query())
    assert not raised.value.retryable
    assert route.call_count == 1


def test_an_oversized_body_is_refused_by_its_content_length(router: respx.MockRouter) -> None:
    big = json.dumps({"status": "answered", "answer": {"remarks": "x" * 2000}}).encode()
    router.post("/queries").mock(
        return_value=httpx.Response(200, content=big, headers={"content-type": "application/json"})
    )
    with pytest.raises(AdapterProtocolError, match="exceeds 1024 bytes"):
        make_adapter(router, max_response_bytes=1024).deliver(make_query())


def test_an_oversized_chunked_body_is_not_read_to_the_end(router: respx.MockRouter) -> None:
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        for index in range(10_000):  # 640 MB if anyone read it all
            produced.append(index)
            yield b" " * 65_536

    router.post("/queries").mock(
        return_value=httpx.Response(
            200, headers={"content-type": "application/json"}, content=endless()
        )
    )
    with pytest.raises(AdapterProtocolError, match="exceeds"):
        make_adapter(router).deliver(make_query())  # default limit: 256 KiB
    assert len(produced) <= 5


# ----------------------------------------------------------------------------- refusals


def test_problem_details_become_a_rejection_without_personal_data(
    router: respx.MockRouter,
) -> None:
    route = router.post("/queries").mock(
        return_value=problem(
            404,
            type="https://jobcenter.test/problems/person-not-found",
            title="Person not found",
            detail="Amina Exampleson, born 12.04.1990 (123D456789), is not a customer",
        )
    )
    with capture_logs() as logs, pytest.raises(AdapterRejected) as raised:
        make_adapter(router).deliver(make_query())

    message = raised.value.message
    assert not raised.value.retryable
    assert route.call_count == 1
    assert "HTTP 404" in message
    assert "https://jobcenter.test/problems/person-not-found" in message
    assert "is not a customer" in message
    assert not [word for word in PERSONAL if word.lower() in message.lower()]
    assert not [word for word in PERSONAL if word in repr(logs)]


def test_a_refusal_without_problem_details_still_rejects(router: respx.MockRouter) -> None:
    router.post("/queries").mock(return_value=httpx.Response(403, text="Forbidden"))
    with pytest.raises(AdapterRejected, match=r"HTTP 403, type about:blank"):
        make_adapter(router).deliver(make_query())


def test_fetch_answer_maps_errors_the_same_way(router: respx.MockRouter) -> None:
    router.get("/queries/qry-404/answer").mock(
        return_value=problem(404, type="/problems/unknown-query")
    )
    router.get("/queries/qry-bad/answer").mock(
        return_value=httpx.Response(200, json={"status": "pending"})
    )
    router.get("/queries/qry-5xx/answer").mock(return_value=httpx.Response(502))
    router.get("/queries/qry-403/answer").mock(
        return_value=problem(403, type="/problems/forbidden", title="Forbidden")
    )
    adapter = make_adapter(router)

    with pytest.raises(AdapterRejected, match="does not know query qry-404"):
        adapter.fetch_answer("qry-404")
    with pytest.raises(AdapterProtocolError):
        adapter.fetch_answer("qry-bad")
    with pytest.raises(AdapterUnavailable):
        adapter.fetch_answer("qry-5xx")
    with pytest.raises(AdapterRejected, match=r"type /problems/forbidden \(Forbidden\)"):
        adapter.fetch_answer("qry-403")


def test_fetch_answer_escapes_the_query_id(router: respx.MockRouter) -> None:
    route = router.get(url__regex=r".*/answer$").mock(return_value=answered())
    make_adapter(router).fetch_answer("a/b?c")
    assert route.calls.last.request.url.raw_path == b"/gateway/v1/queries/a%2Fb%3Fc/answer"


# ----------------------------------------------------------------------------- breaker


def state_of(adapter: RestAdapter) -> str:
    return adapter.circuit_state  # read afresh: the state moves with the clock


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_reset(
    router: respx.MockRouter, clock: FakeClock
) -> None:
    route = router.post("/queries").mock(return_value=httpx.Response(503))
    adapter = make_adapter(
        router, clock=clock, breaker_threshold=3, breaker_reset_seconds=30, max_attempts=2
    )

    for _ in range(3):
        with pytest.raises(AdapterUnavailable) as raised:
            adapter.deliver(make_query())
        assert not isinstance(raised.value, CircuitOpen)
    assert route.call_count == 6  # three deliveries, two attempts each
    assert state_of(adapter) == "open"

    with pytest.raises(CircuitOpen):
        adapter.deliver(make_query())
    with pytest.raises(CircuitOpen):
        adapter.fetch_answer("qry-1")
    assert route.call_count == 6  # refused without a request
    assert not adapter.health().ok

    clock.now += 29.9
    with pytest.raises(CircuitOpen):
        adapter.deliver(make_query())

    clock.now += 0.1
    assert state_of(adapter) == "half_open"
    with pytest.raises(AdapterUnavailable) as raised:
        adapter.deliver(make_query())  # the one trial, a single attempt, fails
    assert not isinstance(raised.value, CircuitOpen)
    assert route.call_count == 7
    with pytest.raises(CircuitOpen):
        adapter.deliver(make_query())  # open again at once

    clock.now += 30
    route.mock(return_value=answered())
    assert adapter.deliver(make_query()).answer == ANSWER  # the trial succeeds
    assert state_of(adapter) == "closed"
    assert adapter.deliver(make_query()).answer == ANSWER


def test_refusals_do_not_open_the_breaker(router: respx.MockRouter, clock: FakeClock) -> None:
    router.post("/queries").mock(return_value=problem(422, type="/problems/invalid"))
    adapter = make_adapter(router, clock=clock, breaker_threshold=2)
    for _ in range(5):
        with pytest.raises(AdapterRejected):
            adapter.deliver(make_query())
    assert adapter.circuit_state == "closed"


def test_a_success_resets_the_failure_count(router: respx.MockRouter, clock: FakeClock) -> None:
    route = router.post("/queries").mock(return_value=httpx.Response(500))
    adapter = make_adapter(router, clock=clock, breaker_threshold=2, max_attempts=1)
    with pytest.raises(AdapterUnavailable):
        adapter.deliver(make_query())
    route.mock(return_value=answered())
    adapter.deliver(make_query())
    route.mock(return_value=httpx.Response(500))
    with pytest.raises(AdapterUnavailable):
        adapter.deliver(make_query())
    assert adapter.circuit_state == "closed"


# ----------------------------------------------------------------------------- health


def test_health(router: respx.MockRouter) -> None:
    route = router.get("/health").mock(return_value=httpx.Response(200, json={"status": "ok"}))
    adapter = make_adapter(router)
    assert adapter.health().ok
    route.mock(return_value=httpx.Response(503, json={"status": "unavailable"}))
    health = adapter.health()
    assert not health.ok
    assert "HTTP 503" in health.detail
    assert route.call_count == 2  # no retries for a health probe
    route.mock(side_effect=httpx.ConnectError("refused"))
    assert not adapter.health().ok


# ----------------------------------------------------------------------------- logs


def test_logs_carry_ids_status_and_duration_but_no_personal_data(
    router: respx.MockRouter,
) -> None:
    router.post("/queries").mock(side_effect=[httpx.Response(500), answered()])
    with capture_logs() as logs:
        make_adapter(router).deliver(make_query())

    exchanges = [entry for entry in logs if entry["event"] == "rest_adapter.exchange"]
    assert [entry["status_code"] for entry in exchanges] == [500, 200]
    assert all(entry["query_id"] == "qry-1" for entry in exchanges)
    assert all(entry["jobcenter_key"] == JOBCENTER for entry in exchanges)
    assert all("duration_ms" in entry for entry in exchanges)
    assert not [word for word in PERSONAL if word in repr(logs)]


# ----------------------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    settings = RestAdapterSettings(
        base_url="https://jobcenter.test",
        client_cert=Path("c.pem"),
        client_key=Path("k.pem"),
        ca_bundle=Path("ca.pem"),
    )
    assert settings.connect_timeout_seconds == 2
    assert settings.read_timeout_seconds == 5
    assert settings.max_attempts == 3
    assert settings.backoff_base_seconds == 0.2
    assert settings.max_response_bytes == 256 * 1024
    assert settings.breaker_threshold == 5
    assert settings.breaker_reset_seconds == 30
    assert settings.callback_secret is None


@pytest.mark.parametrize(
    "changes",
    [
        {"base_url": "http://jobcenter.test"},
        {"base_url": "https://user:pw@jobcenter.test"},
        {"base_url": "https://jobcenter.test/?tenant=1"},
        {"max_attempts": 0},
        {"callback_secret": "not-a-whsec"},
        {"callback_secret": "whsec_c2hvcnQ="},  # five bytes
    ],
)
def test_settings_refuse_unsafe_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_settings(**changes)


def test_the_callback_secret_is_not_shown() -> None:
    secret = generate_callback_secret()
    settings = make_settings(callback_secret=secret)
    assert secret not in repr(settings)


# ----------------------------------------------------------------------------- callbacks

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALLBACK = json.dumps({"query_id": "qry-1", "answer": ANSWER}).encode()


def test_callback_signature_verifies() -> None:
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert verify_callback(secret=SECRET, headers=headers, body=CALLBACK) == {
        "query_id": "qry-1",
        "answer": ANSWER,
    }


def test_callback_headers_are_case_insensitive() -> None:
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK)
    shouted = {name.title(): value for name, value in headers.items()}
    assert verify_callback(secret=SECRET, headers=shouted, body=CALLBACK)["query_id"] == "qry-1"


@pytest.mark.parametrize(
    "tamper",
    ["other-secret", "body", "msg-id", "no-signature", "garbage-signature", "not-utf8"],
)
def test_bad_callback_signatures_are_protocol_errors(tamper: str) -> None:
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK)
    body = CALLBACK
    if tamper == "other-secret":
        headers = sign_callback(secret=generate_callback_secret(), msg_id="msg_qry-1", body=body)
    elif tamper == "body":
        body = CALLBACK.replace(b"true", b"false")
    elif tamper == "msg-id":
        headers["webhook-id"] = "msg_qry-2"
    elif tamper == "no-signature":
        del headers["webhook-signature"]
    elif tamper == "garbage-signature":
        headers["webhook-signature"] = "v1;###"
    elif tamper == "not-utf8":
        body = b"\xff\xfe"
    with pytest.raises(AdapterProtocolError, match="callback signature rejected"):
        verify_callback(secret=SECRET, headers=headers, body=body)


def test_a_replayed_callback_with_an_old_timestamp_is_refused() -> None:
    old = datetime.now(UTC) - timedelta(minutes=6)
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK, timestamp=old)
    with pytest.raises(AdapterProtocolError, match="too old"):
        verify_callback(secret=SECRET, headers=headers, body=CALLBACK)


def test_a_callback_from_the_future_is_refused() -> None:
    later = datetime.now(UTC) + timedelta(minutes=6)
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK, timestamp=later)
    with pytest.raises(AdapterProtocolError, match="too new"):
        verify_callback(secret=SECRET, headers=headers, body=CALLBACK)


def test_a_signed_callback_that_is_not_an_object_is_a_protocol_error() -> None:
    body = b'["qry-1"]'
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=body)
    with pytest.raises(AdapterProtocolError, match="not a JSON object"):
        verify_callback(secret=SECRET, headers=headers, body=body)


def test_an_oversized_callback_is_refused_before_hashing() -> None:
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK)
    with pytest.raises(AdapterProtocolError, match="exceeds"):
        verify_callback(secret=SECRET, headers=headers, body=CALLBACK, max_bytes=10)


def test_an_unusable_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        verify_callback(secret="plain", headers={}, body=CALLBACK)


def test_adapter_verifies_callbacks_with_its_own_secret(router: respx.MockRouter) -> None:
    headers = sign_callback(secret=SECRET, msg_id="msg_qry-1", body=CALLBACK)
    with_secret = make_adapter(router, callback_secret=SECRET)
    assert with_secret.verify_callback(headers=headers, body=CALLBACK)["answer"] == ANSWER
    with pytest.raises(AdapterProtocolError, match="no callback secret"):
        make_adapter(router).verify_callback(headers=headers, body=CALLBACK)
