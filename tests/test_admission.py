"""Admission control: requests beyond the limit wait, and past the timeout get a 503 problem."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from gateway.admission import AdmissionControl


def _app(release: asyncio.Event, entered: list[str]) -> AdmissionControl:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        if scope["path"] == "/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return AdmissionControl(slow, limit=1, timeout_seconds=0.2)


def test_a_request_beyond_the_limit_waits_then_is_shed_with_retry_after() -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response, list[str]]:
        release, entered = asyncio.Event(), []
        transport = httpx.ASGITransport(app=_app(release, entered))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            first = asyncio.create_task(client.get("/slow"))
            while not entered:
                await asyncio.sleep(0.01)
            shed = await client.get("/v1/queries")
            health = await client.get("/healthz")  # always admitted
            release.set()
            return await first, shed, health, entered

    first, shed, health, entered = asyncio.run(scenario())
    assert first.status_code == 200
    assert shed.status_code == 503
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["type"] == "/problems/overloaded"
    assert health.status_code == 200
    assert entered == ["/slow", "/healthz"]  # the shed request never reached the app


def test_a_waiting_request_is_admitted_when_a_slot_frees() -> None:
    async def scenario() -> list[int]:
        release, entered = asyncio.Event(), []
        app = AdmissionControl(_app(release, entered).app, limit=1, timeout_seconds=5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            first = asyncio.create_task(client.get("/slow"))
            while not entered:
                await asyncio.sleep(0.01)
            second = asyncio.create_task(client.get("/v1/queries"))
            await asyncio.sleep(0.1)
            assert entered == ["/slow"]  # the second waits for the first
            release.set()
            return [(await first).status_code, (await second).status_code]

    assert asyncio.run(scenario()) == [200, 200]
