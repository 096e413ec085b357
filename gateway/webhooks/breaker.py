"""One circuit breaker per webhook subscription, as ``adapters.rest`` keeps one per jobcenter.

Closed until ``threshold`` deliveries in a row fail, then open: the
subscription's messages wait (they spend no attempts) until one trial delivery
may go. A failed trial opens the circuit again for twice as long, up to
``max_open_seconds``; a success closes it. The state is per process and lost
on restart, which costs at most ``threshold`` more failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

logger = structlog.get_logger(__name__)

CircuitState = Literal["closed", "open", "half_open"]


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    open_seconds: float = 0.0
    trial_running: bool = False


class SubscriptionBreakers:
    def __init__(
        self,
        *,
        threshold: int,
        reset_seconds: float,
        max_open_seconds: float = 3600.0,
        clock: Callable[[], float],
    ) -> None:
        self._threshold = threshold
        self._reset_seconds = reset_seconds
        self._max_open_seconds = max(max_open_seconds, reset_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        # Only subscriptions with failures have an entry: the map stays small.
        self._circuits: dict[str, _Circuit] = {}

    def _state(self, circuit: _Circuit | None) -> CircuitState:
        if circuit is None or circuit.opened_at is None:
            return "closed"
        if circuit.trial_running or self._clock() - circuit.opened_at < circuit.open_seconds:
            return "open"
        return "half_open"

    def state(self, subscription_id: str) -> CircuitState:
        with self._lock:
            return self._state(self._circuits.get(subscription_id))

    def blocked(self) -> set[str]:
        """Subscriptions whose messages must wait now."""
        with self._lock:
            return {key for key, c in self._circuits.items() if self._state(c) == "open"}

    def begin(self, subscription_id: str) -> bool:
        """Start a delivery; whether it is the half-open trial. Call only when not blocked."""
        with self._lock:
            circuit = self._circuits.get(subscription_id)
            if circuit is None or self._state(circuit) != "half_open":
                return False
            circuit.trial_running = True
            return True

    def record(self, subscription_id: str, *, trial: bool, success: bool | None) -> None:
        """The result of a delivery; ``success`` None: neither the receiver's fault nor merit."""
        with self._lock:
            circuit = self._circuits.get(subscription_id)
            if circuit is not None and trial:
                circuit.trial_running = False
            if success is None:
                return
            if success:
                if circuit is not None and circuit.opened_at is not None:
                    logger.info("webhook_circuit_closed", subscription_id=subscription_id)
                self._circuits.pop(subscription_id, None)
                return
            if circuit is None:
                circuit = self._circuits[subscription_id] = _Circuit()
            circuit.failures += 1
            if trial:
                circuit.open_seconds = min(circuit.open_seconds * 2, self._max_open_seconds)
            elif circuit.opened_at is None and circuit.failures >= self._threshold:
                circuit.open_seconds = self._reset_seconds
            else:
                return
            circuit.opened_at = self._clock()
            logger.warning(
                "webhook_circuit_opened",
                subscription_id=subscription_id,
                consecutive_failures=circuit.failures,
                open_seconds=circuit.open_seconds,
            )
