"""Prometheus metrics of one gateway process (text format at ``/metrics``).

Labels are route templates, status codes, jobcenter keys and reason codes:
never identifiers of persons. State that lives in the database (outbox depth,
checkpoint age, queries past deadline) is read at scrape time by a collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _DatabaseGauges(Collector):
    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = self._read()
        except Exception:
            values = {}
        descriptions = {
            "gateway_webhook_outbox_depth": "Webhook messages waiting for delivery",
            "gateway_audit_checkpoint_age_seconds": "Seconds since the latest signed checkpoint",
            "gateway_queries_past_deadline": "Open queries whose deadline has passed",
            "gateway_audit_unsigned_events": "Audit events not yet covered by a checkpoint",
        }
        for name, description in descriptions.items():
            if name in values:
                yield GaugeMetricFamily(name, description, value=values[name])


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "gateway_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.decisions = Counter(
            "gateway_policy_decisions",
            "Policy decisions by action, outcome and reason",
            ["action", "decision", "reason"],
            registry=self.registry,
        )
        self.adapter_seconds = Histogram(
            "gateway_adapter_call_duration_seconds",
            "Adapter delivery latency per jobcenter",
            ["jobcenter", "adapter"],
            registry=self.registry,
        )
        self.adapter_errors = Counter(
            "gateway_adapter_errors",
            "Adapter delivery errors per jobcenter and kind",
            ["jobcenter", "error"],
            registry=self.registry,
        )

    def watch_database(self, read: Callable[[], dict[str, float]]) -> None:
        self.registry.register(_DatabaseGauges(read))

    def request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def decision(self, *, action: str, allowed: bool, reasons: tuple[str, ...] | list[str]) -> None:
        outcome = "permit" if allowed else "deny"
        for reason in reasons or ("none",):
            self.decisions.labels(action, outcome, reason).inc()

    def adapter_call(
        self, *, jobcenter: str, adapter: str, seconds: float, error: str | None
    ) -> None:
        self.adapter_seconds.labels(jobcenter, adapter).observe(seconds)
        if error is not None:
            self.adapter_errors.labels(jobcenter, error).inc()
