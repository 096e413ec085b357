"""Which adapter answers for which jobcenter: filled from ``policies/routing.yaml`` at start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import (
    AdapterHealth,
    AdapterRejected,
    DeliveredQuery,
    Delivery,
    DeliveryOutcome,
    InboxAdapter,
    JobcenterAdapter,
)
from adapters.rest import query_to_json
from adapters.simulator import synthetic_answer


class AdapterRegistry:
    def __init__(
        self, adapters: Mapping[str, JobcenterAdapter], *, default: JobcenterAdapter | None = None
    ) -> None:
        self._adapters = dict(adapters)
        self._default = default or InboxAdapter()

    def for_key(self, official_key: str | None) -> JobcenterAdapter:
        """The adapter of a jobcenter; anyone not listed (and every municipality) uses the inbox."""
        if official_key is None:
            return self._default
        return self._adapters.get(official_key, self._default)

    def items(self) -> list[tuple[str, JobcenterAdapter]]:
        return sorted(self._adapters.items())

    def close(self) -> None:
        """Release network clients (the rest adapters' connection pools)."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if callable(close):
                close()


class InProcessSimulator:
    """The jobcenter simulator called in the same process: demos without a second server.

    It answers synchronously with the simulator's synthetic data; the network
    path (RestAdapter over mTLS to ``python -m adapters.simulator``) is what a
    real jobcenter uses and is exercised by the adapter tests and benchmarks.
    """

    kind = "simulator"

    def deliver(self, query: DeliveredQuery) -> Delivery:
        try:
            answer = synthetic_answer(query=query_to_json(query))
        except KeyError as exc:
            raise AdapterRejected(f"the simulator does not know question {query.question}") from exc
        return Delivery(outcome=DeliveryOutcome.ANSWERED, answer=answer)

    def fetch_answer(self, query_id: str) -> dict[str, Any] | None:
        return None

    def health(self) -> AdapterHealth:
        return AdapterHealth(ok=True, detail="in-process simulator")
