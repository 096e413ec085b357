"""Delivers the webhook outbox concurrently, apart from the scheduler's other work.

One dispatcher per process: a thread that claims due messages and hands them
to a bounded pool of delivery workers. A receiver that never answers costs a
worker for at most the time budget of one request, and never more than a
share of the workers:

* one message per subscription at a time (its messages also stay in order);
* at most half of the workers per organisation, so ten subscriptions of one
  organisation cannot take the place of another organisation's delivery;
* a circuit breaker per subscription (``gateway.webhooks.breaker``) and a
  doubling delay per message (``gateway.webhooks.delivery``).

Claims are leases (``LEASE``): a message whose worker died is taken up again,
by this process or another, once the lease ends.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.clock import utcnow
from gateway.database import reader
from gateway.sealing import Sealer
from gateway.settings import Settings
from gateway.webhooks import delivery, repository
from gateway.webhooks.breaker import SubscriptionBreakers
from gateway.webhooks.delivery import DeliveryOptions, Outcome
from gateway.webhooks.transport import Resolver, guarded_client, system_resolver

logger = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)
# Subscriptions with due messages read per claim; more than any round can take.
CANDIDATES = 200


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retried: int
    failed: int


@dataclass(frozen=True)
class _Claim:
    message_id: str
    subscription_id: str
    organisation_id: str


class WebhookDispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        sealer: Sealer,
        options: DeliveryOptions,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._sealer = sealer
        self._options = options
        self._per_organisation = max(1, options.workers // 2)
        self._client = guarded_client(
            destinations=options.destinations,
            timeout_seconds=options.timeout_seconds,
            max_connections=options.workers,
            resolver=resolver,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=options.workers, thread_name_prefix="webhook-delivery"
        )
        self._breakers = SubscriptionBreakers(
            threshold=options.breaker_threshold,
            reset_seconds=options.breaker_reset_seconds,
            clock=clock,
        )
        self._lock = threading.Lock()
        self._in_flight: dict[str, str] = {}  # subscription -> its organisation
        self._claiming = threading.Lock()  # one claimer at a time keeps the counts above true
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: Engine, sealer: Sealer) -> Self:
        return cls(engine=engine, sealer=sealer, options=DeliveryOptions.from_settings(settings))

    @property
    def breakers(self) -> SubscriptionBreakers:
        return self._breakers

    # -- running in the background ------------------------------------------------------

    def start(self, *, interval: float) -> None:
        """Deliver in a thread of its own until ``stop``: every ``interval`` seconds, and
        whenever a delivery ends (a worker is free and more may be due)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="webhook-dispatcher", daemon=True
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                with self._claiming:
                    self._claim_and_submit(cutoff=None, limit=self._options.workers)
            except Exception as exc:  # the database may be away; try again next round
                logger.warning("webhook_dispatch_failed", error_type=type(exc).__name__)
            self._wake.wait(interval)

    def stop(self) -> None:
        """Stop claiming and wait for deliveries in flight (each ends within its time budget)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._executor.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- one pass, waited for ---------------------------------------------------------

    def deliver_due(self, *, batch: int = 50) -> DeliveryReport:
        """Deliver the messages due now, each at most once, and wait for the results."""
        cutoff = utcnow()
        outcomes: Counter[Outcome] = Counter()
        pending: set[Future[Outcome]] = set()
        submitted = 0
        with self._claiming:
            while True:
                new = self._claim_and_submit(cutoff=cutoff, limit=batch - submitted)
                submitted += len(new)
                pending.update(new)
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                outcomes.update(future.result() for future in done)
        return DeliveryReport(
            delivered=outcomes["delivered"], retried=outcomes["retry"], failed=outcomes["failed"]
        )

    # -- claiming and delivering ------------------------------------------------------

    def _claim_and_submit(self, *, cutoff: datetime | None, limit: int) -> list[Future[Outcome]]:
        with self._lock:
            free = min(self._options.workers - len(self._in_flight), limit)
            busy = Counter(self._in_flight.values())
            exclude = set(self._in_flight)
        if free <= 0:
            return []
        exclude |= self._breakers.blocked()
        now = utcnow()
        due_by = now if cutoff is None else min(cutoff, now)
        claims: list[_Claim] = []
        with Session(self._engine) as session:
            candidates = repository.due_subscriptions(
                session, cutoff=due_by, exclude=exclude, limit=CANDIDATES
            )
            for subscription_id, organisation_id in candidates:
                if len(claims) >= free:
                    break
                if busy[organisation_id] >= self._per_organisation:
                    continue
                message_id = repository.claim_next(
                    session, subscription_id=subscription_id, cutoff=due_by, lease_until=now + LEASE
                )
                if message_id is not None:
                    claims.append(_Claim(message_id, subscription_id, organisation_id))
                    busy[organisation_id] += 1
            session.commit()
        futures = []
        for claim in claims:
            with self._lock:
                self._in_flight[claim.subscription_id] = claim.organisation_id
            trial = self._breakers.begin(claim.subscription_id)
            futures.append(self._executor.submit(self._deliver, claim, trial))
        return futures

    def _deliver(self, claim: _Claim, trial: bool) -> Outcome:
        success: bool | None = None
        try:
            with Session(reader(self._engine)) as session:
                prepared = delivery.prepare(session, self._sealer, claim.message_id)
            if prepared is None:
                return "failed"
            result = delivery.send(self._client, prepared, self._options.destinations)
            with Session(self._engine) as session:
                outcome = delivery.record(session, prepared, result, options=self._options)
                session.commit()
            success = result.breaker_success
            return outcome
        except Exception as exc:
            # The lease ends and the message is tried again; nothing is lost.
            logger.warning(
                "webhook_delivery_error", message_id=claim.message_id, error_type=type(exc).__name__
            )
            return "retry"
        finally:
            self._breakers.record(claim.subscription_id, trial=trial, success=success)
            with self._lock:
                self._in_flight.pop(claim.subscription_id, None)
            self._wake.set()
