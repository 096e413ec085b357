"""The ``rest`` adapter: the gateway hands queries to a jobcenter's own system over HTTPS.

The jobcenter implements ``openapi/jobcenter-adapter.yaml``; this module is the
gateway's client of it, one ``RestAdapter`` instance per jobcenter. Standards:

* Mutual TLS in the PKI style of RFC 8705 section 2
  (https://www.rfc-editor.org/rfc/rfc8705#section-2): the gateway presents its
  client certificate and trusts the jobcenter's server only through the CA
  bundle configured for that jobcenter, never the system store.
* W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header):
  a well-formed ``traceparent`` of the query is forwarded unchanged.
* IETF draft "The Idempotency-Key HTTP Header Field"
  (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/):
  ``Idempotency-Key`` = ``query_id`` on every attempt, which is what makes
  retrying a POST safe.
* RFC 9457 problem details (https://www.rfc-editor.org/rfc/rfc9457): the
  ``type`` (and, scrubbed, the ``detail``) of a refusal become the message of
  ``AdapterRejected``.
* Standard Webhooks (https://www.standardwebhooks.com/): answers given later
  arrive as signed callbacks, checked by ``verify_callback``.

How outcomes map onto the port's exception tree (``adapters.base``)::

    httpx.TimeoutException, body slower than the budget -> AdapterTimeout        retried
    httpx.TransportError (refused, TLS failure, reset)   -> AdapterUnavailable    retried
    HTTP 5xx, 408, 409, 429                              -> AdapterUnavailable    retried
    breaker open                                         -> CircuitOpen           not attempted
    max_in_flight exchanges already waiting on it        -> AdapterUnavailable    not attempted
    other HTTP 4xx                                       -> AdapterRejected       not retried
    non-JSON, off-contract, oversized, 1xx/3xx           -> AdapterProtocolError  not retried

Only query ids, the jobcenter key, status codes and durations are logged:
never names, birth dates, customer numbers, parameters or answers.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Literal, NoReturn, Self
from urllib.parse import quote

import httpx
import structlog
from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    UrlConstraints,
    field_validator,
)
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.base import (
    AdapterError,
    AdapterHealth,
    AdapterProtocolError,
    AdapterRejected,
    AdapterTimeout,
    AdapterUnavailable,
    CircuitOpen,
    DeliveredQuery,
    Delivery,
    DeliveryOutcome,
    PersonReference,
)

__all__ = [
    "CALLBACK_TOLERANCE_SECONDS",
    "CircuitState",
    "RestAdapter",
    "RestAdapterSettings",
    "client_ssl_context",
    "generate_callback_secret",
    "is_valid_traceparent",
    "query_to_json",
    "sign_callback",
    "verify_callback",
]

logger = structlog.get_logger("adapters.rest")

KIB = 1024
# Fixed by the standardwebhooks package (and recommended by the standard).
CALLBACK_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105  # the standard's prefix, not a secret
MIN_SECRET_BYTES = 24  # Standard Webhooks: secrets of 24 to 64 random bytes
USER_AGENT = "consent-gateway-rest-adapter/1"
# 408 and 429 say "try again later"; 409 is the idempotency draft's "a request with
# this key is still being processed". None of them means the jobcenter refused.
TRANSIENT_STATUSES = frozenset({408, 409, 429})
MESSAGE_LIMIT = 200  # characters of remote text copied into an exception message

HttpsUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], host_required=True)]
CircuitState = Literal["closed", "open", "half_open"]


class RestAdapterSettings(BaseModel):
    """How the gateway reaches one jobcenter system. Durations are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: HttpsUrl = Field(description="Base URL of the contract, e.g. https://jc.example/v1")
    client_cert: Path = Field(description="PEM client certificate the gateway presents")
    client_key: Path = Field(description="PEM private key of client_cert")
    ca_bundle: Path = Field(description="PEM CA certificates that may issue the server certificate")
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    read_timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_base_seconds: float = Field(default=0.2, ge=0)
    max_response_bytes: int = Field(default=256 * KIB, gt=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, ge=0)
    # A bulkhead: the breaker opens only after failures complete, so a jobcenter that
    # hangs could otherwise hold every worker of the gateway for a whole timeout.
    max_in_flight: int = Field(default=8, ge=1)
    callback_secret: SecretStr | None = Field(
        default=None,
        description="Standard Webhooks secret (whsec_...) of this jobcenter's callbacks",
    )

    @field_validator("base_url")
    @classmethod
    def _plain_base_url(cls, value: AnyUrl) -> AnyUrl:
        # Credentials in a URL leak into logs and error messages; a query or a
        # fragment would be lost when the contract's paths are appended.
        if value.username or value.password or value.query or value.fragment:
            raise ValueError("base_url must not contain credentials, a query or a fragment")
        return value

    @field_validator("callback_secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _callback_key(value.get_secret_value())  # fail at start-up, not at the first callback
        return value


# --------------------------------------------------------------------------- wire format


def _rfc3339(moment: datetime) -> str:
    # The gateway stores UTC; SQLite hands naive values back, which are UTC too
    # (the same convention as gateway/clock.py, which adapters do not import).
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def query_to_json(query: DeliveredQuery) -> dict[str, Any]:
    """The contract's ``DeliveredQuery``: dates as ISO 8601, datetimes as RFC 3339 UTC.

    ``traceparent`` is not part of the body; it travels as a header.
    """
    person = query.person
    consent = query.consent
    return {
        "query_id": query.query_id,
        "jobcenter_key": query.jobcenter_key,
        "question": query.question,
        "purpose": query.purpose,
        "direction": query.direction,
        "person": {
            "subject_id": person.subject_id,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "birth_date": person.birth_date.isoformat(),
            "jobcenter_customer_number": person.jobcenter_customer_number,
        },
        "consent": None
        if consent is None
        else {
            "consent_id": consent.consent_id,
            "purposes": list(consent.purposes),
            "categories": list(consent.categories),
            "valid_until": _rfc3339(consent.valid_until),
        },
        "legal_basis": {
            "kind": query.legal_basis.kind,
            **({"citation": query.legal_basis.citation} if query.legal_basis.citation else {}),
        },
        "deadline": _rfc3339(query.deadline),
        "parameters": dict(query.parameters),
        "callback_url": query.callback_url,
    }


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode()


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON (RFC 8259) and no answer schema allows them.
    raise ValueError(f"{name} is not valid JSON")


def _parse_json_object(body: bytes, *, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise AdapterProtocolError(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise AdapterProtocolError(f"{what} is not a JSON object")
    return value


_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def is_valid_traceparent(value: str) -> bool:
    """Whether ``value`` is a ``traceparent`` that W3C Trace Context section 3.2 allows."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return False
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return False
    return trace_id != "0" * 32 and parent_id != "0" * 16


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clip(text: str) -> str:
    # Remote text goes into exception messages and from there into operational
    # records: one line, bounded.
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"


def _scrub(text: str, person: PersonReference) -> str:
    """Remove the person's identifiers from remote text.

    The contract forbids personal data in problem details, but a jobcenter
    system may still echo the name it did not find; the gateway must not carry
    it on into its records.
    """
    tokens = {
        person.given_name,
        person.family_name,
        person.birth_date.isoformat(),
        person.birth_date.strftime("%d.%m.%Y"),
        person.subject_id,
        person.jobcenter_customer_number or "",
    }
    for name in (person.given_name, person.family_name):
        tokens.update(part for part in re.split(r"[\s\-]+", name) if len(part) >= 3)
    for token in sorted((t for t in tokens if len(t.strip()) >= 2), key=len, reverse=True):
        text = re.sub(re.escape(token), "[redacted]", text, flags=re.IGNORECASE)
    return text


# --------------------------------------------------------------------------- TLS


def client_ssl_context(*, cert: Path, key: Path, ca_bundle: Path) -> ssl.SSLContext:
    """A TLS client context for mutual TLS: present ``cert``, trust only ``ca_bundle``."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


# --------------------------------------------------------------------------- breaker


class _CircuitBreaker:
    """Consecutive-failure breaker: closed, open after ``threshold`` failures, then one trial.

    Shared by all threads using one adapter, hence the lock. A refusal (4xx) is
    a healthy answer and closes the circuit like a success.
    """

    def __init__(
        self, *, name: str, threshold: int, reset_seconds: float, clock: Callable[[], float]
    ) -> None:
        self._name = name
        self._threshold = threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def state(self) -> CircuitState:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_running or self._clock() - self._opened_at < self._reset_seconds:
                return "open"
            return "half_open"

    def _acquire(self) -> bool:
        """Whether the call is the half-open trial; raises CircuitOpen when it may not run."""
        with self._lock:
            if self._opened_at is None:
                return False
            waited = self._clock() - self._opened_at
            if self._trial_running or waited < self._reset_seconds:
                remaining = max(self._reset_seconds - waited, 0.0)
                raise CircuitOpen(
                    f"circuit open for jobcenter {self._name} after {self._failures} "
                    f"consecutive failures; next trial in {remaining:.0f} s"
                )
            self._trial_running = True
            return True

    def _record(self, *, trial: bool, success: bool | None) -> None:
        with self._lock:
            if trial:
                self._trial_running = False
            if success is None:  # neither the jobcenter's fault nor its merit
                return
            if success:
                if self._opened_at is not None:
                    logger.info("rest_adapter.circuit_closed", jobcenter_key=self._name)
                self._failures = 0
                self._opened_at = None
                return
            self._failures += 1
            if trial or (self._opened_at is None and self._failures >= self._threshold):
                self._opened_at = self._clock()
                logger.warning(
                    "rest_adapter.circuit_opened",
                    jobcenter_key=self._name,
                    consecutive_failures=self._failures,
                )

    @contextmanager
    def guard(self) -> Iterator[bool]:
        """Run one call through the breaker; yields whether it is the half-open trial."""
        trial = self._acquire()
        try:
            yield trial
        except AdapterRejected:
            self._record(trial=trial, success=True)
            raise
        except AdapterError:
            self._record(trial=trial, success=False)
            raise
        except BaseException:
            self._record(trial=trial, success=None)
            raise
        else:
            self._record(trial=trial, success=True)


# --------------------------------------------------------------------------- adapter


@dataclass(frozen=True)
class _Reply:
    status: int
    media_type: str
    body: bytes


class RestAdapter:
    """Delivers queries to one jobcenter system that implements openapi/jobcenter-adapter.yaml.

    ``transport`` or ``client`` replace the real mTLS client in tests (both the
    certificate files and the network are then left alone); ``clock`` and
    ``sleep`` drive the breaker, the body time budget and the backoff.
    """

    kind = "rest"

    def __init__(
        self,
        *,
        jobcenter_key: str,
        settings: RestAdapterSettings,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if transport is not None and client is not None:
            raise ValueError("pass a transport or a client, not both")
        self.jobcenter_key = jobcenter_key
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._base_url = str(settings.base_url).rstrip("/")
        self._owns_client = client is None
        if client is None:
            client = httpx.Client(
                transport=transport,
                verify=(
                    True  # unused: the injected transport does its own I/O
                    if transport is not None
                    else client_ssl_context(
                        cert=settings.client_cert,
                        key=settings.client_key,
                        ca_bundle=settings.ca_bundle,
                    )
                ),
                timeout=httpx.Timeout(
                    connect=settings.connect_timeout_seconds,
                    read=settings.read_timeout_seconds,
                    write=settings.read_timeout_seconds,
                    pool=settings.connect_timeout_seconds,
                ),
                follow_redirects=False,  # a redirect would carry personal data to an unvetted host
                # Personal data goes to the configured endpoint, not via proxies from the env.
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
            )
        self._client = client
        self._in_flight = threading.BoundedSemaphore(settings.max_in_flight)
        self._breaker = _CircuitBreaker(
            name=jobcenter_key,
            threshold=settings.breaker_threshold,
            reset_seconds=settings.breaker_reset_seconds,
            clock=clock,
        )

    # -- lifecycle

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def circuit_state(self) -> CircuitState:
        return self._breaker.state

    @contextmanager
    def _bulkhead(self) -> Iterator[None]:
        """At most ``max_in_flight`` exchanges wait on this jobcenter; more are refused at once.

        Refused calls never reach the jobcenter, so they count neither for nor
        against it in the breaker.
        """
        if not self._in_flight.acquire(blocking=False):
            raise AdapterUnavailable(
                f"jobcenter {self.jobcenter_key} already has {self.settings.max_in_flight} "
                "exchanges in flight"
            )
        try:
            yield
        finally:
            self._in_flight.release()

    # -- the port

    def deliver(self, query: DeliveredQuery) -> Delivery:
        """POST /queries; retried with the same Idempotency-Key, so at most one case is opened."""
        if query.jobcenter_key != self.jobcenter_key:
            # A misrouted query would disclose a person to the wrong jobcenter.
            raise AdapterRejected(
                f"query {query.query_id} is for jobcenter {query.jobcenter_key}, "
                f"not {self.jobcenter_key}"
            )
        headers = {
            "Idempotency-Key": query.query_id,
            "Content-Type": "application/json",
            "Accept": "application/json, application/problem+json",
        }
        if query.traceparent is not None and is_valid_traceparent(query.traceparent):
            headers["traceparent"] = query.traceparent
        content = _encode(query_to_json(query))
        # A half-open trial is a single attempt: one probe, not a burst of retries.
        with self._bulkhead(), self._breaker.guard() as trial:
            reply = self._exchange(
                method="POST",
                path="/queries",
                route="/queries",
                query_id=query.query_id,
                headers=headers,
                content=content,
                attempts=1 if trial else self.settings.max_attempts,
            )
            return self._delivery(reply, query=query)

    def fetch_answer(self, query_id: str) -> dict[str, Any] | None:
        """GET /queries/{id}/answer: the answer, or None while the jobcenter is still working."""
        with self._bulkhead(), self._breaker.guard() as trial:
            reply = self._exchange(
                method="GET",
                path=f"/queries/{quote(query_id, safe='')}/answer",
                route="/queries/{query_id}/answer",
                query_id=query_id,
                headers={"Accept": "application/json, application/problem+json"},
                content=None,
                attempts=1 if trial else self.settings.max_attempts,
            )
            return self._fetched(reply, query_id=query_id)

    def health(self) -> AdapterHealth:
        """GET /health once, without retries; never raises."""
        if self._breaker.state == "open":
            return AdapterHealth(
                ok=False,
                detail=f"circuit open after {self._breaker.failures} consecutive failures",
            )
        try:
            reply = self._exchange(
                method="GET",
                path="/health",
                route="/health",
                query_id=None,
                headers={"Accept": "application/json"},
                content=None,
                attempts=1,
            )
        except AdapterError as error:
            return AdapterHealth(ok=False, detail=error.message)
        if reply.status != 200:
            return AdapterHealth(ok=False, detail=f"HTTP {reply.status}")
        return AdapterHealth(ok=True, detail="HTTP 200")

    def verify_callback(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Check a callback of this jobcenter with its configured secret (``verify_callback``)."""
        if self.settings.callback_secret is None:
            raise AdapterProtocolError(f"no callback secret configured for {self.jobcenter_key}")
        return verify_callback(
            secret=self.settings.callback_secret.get_secret_value(),
            headers=headers,
            body=body,
            max_bytes=self.settings.max_response_bytes,
        )

    # -- responses

    def _delivery(self, reply: _Reply, *, query: DeliveredQuery) -> Delivery:
        if 400 <= reply.status < 500:
            raise self._rejection(reply, person=query.person, what=f"query {query.query_id}")
        if reply.status == 200:
            result = self._result(reply, query_id=query.query_id, expected="answered")
            return Delivery(outcome=DeliveryOutcome.ANSWERED, answer=result["answer"])
        if reply.status == 202:
            self._result(reply, query_id=query.query_id, expected="accepted")
            return Delivery(outcome=DeliveryOutcome.ACCEPTED)
        raise AdapterProtocolError(
            f"jobcenter {self.jobcenter_key} answered HTTP {reply.status} to a delivery"
        )

    def _fetched(self, reply: _Reply, *, query_id: str) -> dict[str, Any] | None:
        if reply.status == 404:
            raise AdapterRejected(f"jobcenter {self.jobcenter_key} does not know query {query_id}")
        if 400 <= reply.status < 500:
            raise self._rejection(reply, person=None, what=f"answer of query {query_id}")
        if reply.status == 200:
            answer: dict[str, Any] = self._result(reply, query_id=query_id, expected="answered")[
                "answer"
            ]
            return answer
        if reply.status == 202:
            self._result(reply, query_id=query_id, expected="pending")
            return None
        raise AdapterProtocolError(
            f"jobcenter {self.jobcenter_key} answered HTTP {reply.status} to an answer request"
        )

    def _result(self, reply: _Reply, *, query_id: str, expected: str) -> dict[str, Any]:
        what = f"response of jobcenter {self.jobcenter_key} for query {query_id}"
        if reply.media_type != "application/json" and not reply.media_type.endswith("+json"):
            raise AdapterProtocolError(f"{what} is not JSON ({reply.media_type or 'no type'})")
        result = _parse_json_object(reply.body, what=what)
        if result.get("status") != expected:
            raise AdapterProtocolError(f"{what}: HTTP {reply.status} needs status {expected!r}")
        if "query_id" in result and result["query_id"] != query_id:
            raise AdapterProtocolError(f"{what} names another query")
        if expected == "answered" and not isinstance(result.get("answer"), dict):
            raise AdapterProtocolError(f"{what} has no answer object")
        return result

    def _rejection(
        self, reply: _Reply, *, person: PersonReference | None, what: str
    ) -> AdapterRejected:
        problem: dict[str, Any] = {}
        if reply.media_type in {"application/problem+json", "application/json"}:
            try:
                problem = _parse_json_object(reply.body, what="problem details")
            except AdapterProtocolError:
                problem = {}  # the status alone still says "refused"
        problem_type = problem.get("type")
        message = (
            f"jobcenter {self.jobcenter_key} refused the {what}: HTTP {reply.status}, "
            f"type {_clip(problem_type) if isinstance(problem_type, str) else 'about:blank'}"
        )
        detail = problem.get("detail")
        if person is not None and isinstance(detail, str) and detail:
            # Scrub before clipping, so a name cut in half cannot slip through.
            message += f": {_clip(_scrub(detail, person))}"
        else:
            title = problem.get("title")
            if isinstance(title, str) and title:
                # RFC 9457 section 3.1.3: the title does not change between occurrences.
                message += f" ({_clip(title)})"
        return AdapterRejected(message)

    # -- the exchange

    def _exchange(
        self,
        *,
        method: str,
        path: str,
        route: str,
        query_id: str | None,
        headers: Mapping[str, str],
        content: bytes | None,
        attempts: int,
    ) -> _Reply:
        """One request with bounded retries on timeouts, connection failures and 5xx."""
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            status: int | None = None
            try:
                reply = self._attempt(method=method, path=path, headers=headers, content=content)
                status = reply.status
                if status >= 500 or status in TRANSIENT_STATUSES:
                    raise AdapterUnavailable(
                        f"jobcenter {self.jobcenter_key} answered HTTP {status}"
                    )
            except AdapterError as error:
                self._log(route, query_id, attempt, status, started, outcome=type(error).__name__)
                if not error.retryable or attempt >= attempts:
                    raise
            else:
                self._log(route, query_id, attempt, status, started, outcome="response")
                return reply
            # Exponential backoff; repeating the POST is safe because the
            # Idempotency-Key stays the same.
            self._sleep(self.settings.backoff_base_seconds * 2 ** (attempt - 1))

    def _attempt(
        self, *, method: str, path: str, headers: Mapping[str, str], content: bytes | None
    ) -> _Reply:
        # Ask for an identity encoding: the byte limit then also bounds what a
        # compressed body could inflate to.
        request_headers = {**headers, "Accept-Encoding": "identity"}
        started = self._clock()
        try:
            with self._client.stream(
                method, self._base_url + path, headers=request_headers, content=content
            ) as response:
                status = response.status_code
                if status >= 500 or status in TRANSIENT_STATUSES:
                    # The body is of no use for a retry, so it is never read.
                    return _Reply(status=status, media_type="", body=b"")
                media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                body = self._read_bounded(response, started=started)
                return _Reply(status=status, media_type=media_type, body=body)
        except httpx.TimeoutException as exc:
            raise AdapterTimeout(
                f"jobcenter {self.jobcenter_key}: no response within the timeout "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.DecodingError as exc:
            raise AdapterProtocolError(
                f"jobcenter {self.jobcenter_key}: undecodable response body"
            ) from exc
        except httpx.RequestError as exc:
            # Connection refused, reset, TLS handshake failures (unknown CA,
            # certificate required): the jobcenter system cannot be reached.
            reason = _clip(str(exc)) or type(exc).__name__
            raise AdapterUnavailable(
                f"jobcenter {self.jobcenter_key} unreachable: {type(exc).__name__}: {reason}"
            ) from exc

    def _read_bounded(self, response: httpx.Response, *, started: float) -> bytes:
        limit = self.settings.max_response_bytes
        too_large = f"response of jobcenter {self.jobcenter_key} exceeds {limit} bytes"
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise AdapterProtocolError(too_large)
        # httpx's read timeout is per chunk; a server trickling bytes would never
        # hit it, so the whole exchange also gets a budget.
        budget = self.settings.connect_timeout_seconds + self.settings.read_timeout_seconds
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise AdapterProtocolError(too_large)
            if self._clock() - started > budget:
                raise AdapterTimeout(
                    f"jobcenter {self.jobcenter_key}: response slower than {budget:.1f} s"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _log(
        self,
        route: str,
        query_id: str | None,
        attempt: int,
        status: int | None,
        started: float,
        *,
        outcome: str,
    ) -> None:
        logger.info(
            "rest_adapter.exchange",
            jobcenter_key=self.jobcenter_key,
            query_id=query_id,
            route=route,
            attempt=attempt,
            status_code=status,
            outcome=outcome,
            duration_ms=round((self._clock() - started) * 1000, 1),
        )


# --------------------------------------------------------------------------- callbacks


def _callback_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a callback secret starts with {SECRET_PREFIX}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a callback secret is base64 after its prefix") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a callback secret holds at least {MIN_SECRET_BYTES} bytes")
    return key


def generate_callback_secret() -> str:
    """A new per-jobcenter Standard Webhooks secret (``whsec_`` + base64 of 32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign_callback(
    *, secret: str, msg_id: str, body: bytes, timestamp: datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers (``webhook-id``, ``-timestamp``, ``-signature``) for ``body``.

    ``timestamp`` defaults to now; tests pass an old one to provoke a replay refusal.
    """
    moment = datetime.now(UTC) if timestamp is None else timestamp.astimezone(UTC)
    signature = Webhook(_callback_key(secret)).sign(
        msg_id=msg_id, timestamp=moment, data=body.decode("utf-8")
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": signature,
    }


def verify_callback(
    *, secret: str, headers: Mapping[str, str], body: bytes, max_bytes: int = 256 * KIB
) -> dict[str, Any]:
    """Verify a Standard Webhooks signature and return the parsed JSON object of the body.

    Raises ``AdapterProtocolError`` for a missing, wrong or malformed signature,
    a timestamp more than five minutes off, an oversized body or one that is
    not a JSON object. ``ValueError`` means the secret itself is unusable (configuration).
    Replays inside the five minutes are the receiver's to drop: it remembers
    ``webhook-id`` and ignores an answer to an already answered query.
    """
    webhook = Webhook(_callback_key(secret))
    if len(body) > max_bytes:
        raise AdapterProtocolError(f"callback body exceeds {max_bytes} bytes")
    try:
        webhook.verify(body, dict(headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        raise AdapterProtocolError(f"callback signature rejected: {exc}") from exc
    except ValueError as exc:  # malformed signature list, bad base64, body not UTF-8
        raise AdapterProtocolError(
            "callback signature rejected: malformed headers or body"
        ) from exc
    # Whether it holds a query_id and an answer is the receiver's check: a
    # well-signed but off-contract body is a bad request, not a bad signature.
    return _parse_json_object(body, what="callback body")
