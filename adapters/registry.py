"""Which adapter answers for which jobcenter: filled from ``policies/routing.yaml`` at start."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.base import InboxAdapter, JobcenterAdapter


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
