"""Admission control: at most N requests work at once in one gateway process.

FastAPI runs each synchronous dependency and endpoint as a separate task in
a thread pool (40 threads). A request takes its database connection in its
first dependency (the token check) and needs a thread again for the
endpoint. Admitting more requests than there are connections lets requests
that hold a connection (on SQLite: the one write lock) wait for a thread
while every thread waits for a connection: the process stalls until the
database's timeout. Requests beyond N therefore wait here, on the event
loop, where waiting costs nothing; one that waits longer than the
admission timeout gets a 503 problem with ``Retry-After`` instead of
hanging (load shedding). ``/healthz`` is always admitted.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Receive, Scope, Send

ALWAYS_ADMITTED = frozenset({"/healthz"})


class AdmissionControl:
    """ASGI middleware that bounds the requests in progress."""

    def __init__(self, app: ASGIApp, *, limit: int, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in ALWAYS_ADMITTED:
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.timeout_seconds)
        except TimeoutError:
            await _overloaded(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()


async def _overloaded(send: Send) -> None:
    body = json.dumps(
        {
            "type": "/problems/overloaded",
            "title": "The gateway is busy",
            "status": 503,
            "detail": "Too many requests are in progress; retry in a moment.",
        }
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
