"""A caseload to put load on a gateway: persons with consents, and asks sent from threads.

Each ask carries its own ``Idempotency-Key``; the outcome of every attempt is
kept (status, query id, or no answer at all), so a test can check afterwards
that every acknowledged ask survived and that retrying it is a replay.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEventRow
from gateway.queries.models import Query
from tests.support import World

QUESTION = {"question": "benefit_status", "purpose": "benefit_coordination"}
# policies/limits.yaml: one user asks at most 20 questions a day about one person.
ASKS_PER_PERSON = 20


def persons_with_consents(
    client: TestClient, world: World, headers: dict[str, str], count: int
) -> list[str]:
    """``count`` persons registered by the first municipality, each with an active consent."""
    subjects: list[str] = []
    for number in range(count):
        person = {
            "given_name": f"Leyla{number}",
            "family_name": "Aydin",
            "birth_date": "1990-05-17",
        }
        subject = client.post("/v1/subjects", json=person, headers=headers).json()["id"]
        consent = client.post(
            "/v1/consents",
            json={
                "subject_id": subject,
                "jobcenter_id": world.jobcenter,  # answers in the inbox: no network involved
                "purposes": ["benefit_coordination"],
                "categories": ["benefit_status"],
                "directions": ["municipality_asks_jobcenter"],
                "valid_until": (date.today() + timedelta(days=180)).isoformat(),
                "language": "de",
                "evidence": {"channel": "paper_signature"},
            },
            headers=headers,
        )
        assert consent.status_code == 201, consent.text
        subjects.append(subject)
    return subjects


@dataclass
class Attempt:
    key: str
    body: dict[str, Any]
    status: int | None = None  # None: no response (refused, reset, timed out)
    query_id: str | None = None
    seconds: float = 0.0
    ended: float = 0.0  # time.monotonic() when the answer (or the error) came
    media_type: str = ""
    problem_type: str | None = None
    retry_after: str | None = None
    error: str | None = None  # the client's exception when there was no response

    @property
    def acknowledged(self) -> bool:
        return self.status == 201


@dataclass
class Load:
    """Asks sent by ``workers`` threads to ``base()`` until stopped or the caseload is used up."""

    base: Callable[[], str]
    headers: dict[str, str]
    subjects: list[str]
    prefix: str
    timeout: float = 30.0
    pause: float = 0.0
    # A polite client waits as long as Retry-After says after a 503; capped to keep tests short.
    retry_after_cap: float = 1.0
    attempts: list[Attempt] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def _claim(self) -> Attempt | None:
        with self._lock:
            if self.stop.is_set() or self._next >= len(self.subjects) * ASKS_PER_PERSON:
                return None
            number = self._next
            self._next += 1
        body = {"subject_id": self.subjects[number % len(self.subjects)], **QUESTION}
        return Attempt(key=f"{self.prefix}-{number}", body=body)

    def send(self, http: httpx.Client, attempt: Attempt) -> Attempt:
        started = time.monotonic()
        try:
            response = http.post(
                f"{self.base()}/v1/queries",
                json=attempt.body,
                headers={**self.headers, "Idempotency-Key": attempt.key},
            )
        except httpx.HTTPError as exc:
            attempt.status = None
            attempt.error = type(exc).__name__
        else:
            attempt.status = response.status_code
            attempt.media_type = response.headers.get("content-type", "")
            payload = response.json() if attempt.media_type.endswith("json") else {}
            attempt.query_id = payload.get("id") or payload.get("query_id")
            attempt.problem_type = payload.get("type")
            attempt.retry_after = response.headers.get("retry-after")
        attempt.ended = time.monotonic()
        attempt.seconds = attempt.ended - started
        return attempt

    def _work(self) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            while (attempt := self._claim()) is not None:
                self.send(http, attempt)
                with self._lock:
                    self.attempts.append(attempt)
                if attempt.status == 503 and attempt.retry_after is not None:
                    time.sleep(min(float(attempt.retry_after), self.retry_after_cap))
                elif self.pause:
                    time.sleep(self.pause)

    def run(self, workers: int) -> ThreadPoolExecutor:
        """Start the threads; ``stop`` and shut the pool down (it waits) to end the load."""
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.prefix)
        for _ in range(workers):
            pool.submit(self._work)
        return pool

    def acknowledged(self) -> list[Attempt]:
        with self._lock:
            return [attempt for attempt in self.attempts if attempt.acknowledged]

    def wait_for(self, acknowledged: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < acknowledged:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {acknowledged} asks acknowledged in {timeout} s")
            time.sleep(0.02)


def assert_stored_with_audit(session: Session, attempts: list[Attempt]) -> None:
    """Every acknowledged ask is a stored query with exactly one ``query.asked`` event."""
    ids = {attempt.query_id for attempt in attempts if attempt.acknowledged and attempt.query_id}
    assert len(ids) == sum(attempt.acknowledged for attempt in attempts), "a 201 without an id"
    stored = set(session.exec(select(Query.id).where(col(Query.id).in_(ids))).all())
    assert stored == ids, f"acknowledged but lost: {sorted(ids - stored)}"
    asked: dict[str, int] = {}
    for row in session.exec(
        select(AuditEventRow.event).where(AuditEventRow.event_type == "query.asked")
    ):
        query_id = _query_id(row)
        asked[query_id] = asked.get(query_id, 0) + 1
    missing = sorted(query_id for query_id in ids if asked.get(query_id) != 1)
    assert not missing, f"acknowledged asks without exactly one query.asked event: {missing}"


def _query_id(event: str) -> str:
    return str(json.loads(event).get("query"))  # the event names its query (AuditEvent.body)


def assert_no_duplicate_keys(session: Session, prefix: str) -> None:
    """One query per Idempotency-Key, whatever happened to the requests."""
    duplicates = session.exec(
        select(Query.idempotency_key, func.count())
        .where(col(Query.idempotency_key).startswith(prefix))
        .group_by(Query.idempotency_key)
        .having(func.count() > 1)
    ).all()
    assert not duplicates, duplicates
