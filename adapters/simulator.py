"""A simulated jobcenter system that implements ``openapi/jobcenter-adapter.yaml``.

For demos, tests and benchmarks: the gateway's ``rest`` adapter talks to it as
it would to a real jobcenter. It follows the contract's standards: refusals are
RFC 9457 problem details, deliveries are idempotent per ``Idempotency-Key``
(IETF draft "The Idempotency-Key HTTP Header Field"), later answers are
callbacks signed per Standard Webhooks (https://www.standardwebhooks.com/),
a W3C Trace Context ``traceparent`` is accepted and logged, and
``python -m adapters.simulator`` serves it over mutual TLS (client certificates
required, RFC 8705 section 2 style)::

    .venv/bin/python -m adapters.simulator --port 8443 --certs certs-dev [--answer-mode async]

For failure tests it can misbehave like a real jobcenter system on a bad day
(``SimulatorFaults``): answer late (``--delay``), fail with an HTTP status
(``--fail-status 503``) or hang without answering (``--hang``). The faults live
in ``app.state.simulator.faults`` and can be changed while it runs.

Answers are synthetic and plausible, shaped by the answer schemas of
``policies/questions.yaml``, and derived from a hash of the person reference:
the same person gets the same benefit status, contact and measures every time
(dates move with the calendar). Fields of categories the consent does not
cover are left out, as a careful jobcenter would. All state lives in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as daytime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import httpx
import structlog
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.rest import client_ssl_context, is_valid_traceparent, sign_callback

__all__ = [
    "AnswerMode",
    "SimulatorFaults",
    "SimulatorState",
    "create_app",
    "main",
    "synthetic_answer",
]

logger = structlog.get_logger("adapters.simulator")

AnswerMode = Literal["sync", "async"]
PROBLEM_JSON = "application/problem+json"
BERLIN = ZoneInfo("Europe/Berlin")
CALLBACK_ENV = "SIMULATOR_CALLBACK_SECRET"  # a secret on the command line would show in `ps`
DEFAULT_CLIENT_NAME = "jobcenter-landkreis-heilbronn"
CALLBACK_ATTEMPTS = 3
T = TypeVar("T")


# --------------------------------------------------------------------------- the contract's body


class _Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: str
    given_name: str
    family_name: str
    birth_date: date
    jobcenter_customer_number: str | None = None


class _Consent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent_id: str
    purposes: list[str]
    categories: list[str]
    valid_until: datetime


class _LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["consent", "statute"]
    citation: str | None = None


class _Query(BaseModel):
    """The contract's DeliveredQuery."""

    model_config = ConfigDict(extra="forbid")

    query_id: str = Field(min_length=1, max_length=200)
    jobcenter_key: str
    question: str
    purpose: str
    direction: str
    person: _Person
    consent: _Consent | None
    legal_basis: _LegalBasis
    deadline: datetime
    parameters: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None

    def covers(self, category: str) -> bool:
        """Whether the consent covers ``category`` (a statutory question has no consent)."""
        return self.consent is not None and category in self.consent.categories


# --------------------------------------------------------------------------- synthetic answers


class _Dice:
    """Deterministic choices from a SHA-256 stream, so the same seed gives the same data."""

    def __init__(self, *parts: str) -> None:
        self._seed = hashlib.sha256("\x1f".join(parts).encode()).digest()
        self._counter = 0

    def below(self, bound: int) -> int:
        self._counter += 1
        block = hashlib.sha256(self._seed + self._counter.to_bytes(4, "big")).digest()
        return int.from_bytes(block[:8], "big") % bound

    def between(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]


def _person_key(person: _Person) -> str:
    # Name and birth date are always delivered; the customer number is not, and
    # the same person must look the same either way.
    return (
        "\x1f".join((person.family_name.strip().casefold(), person.given_name.strip().casefold()))
        + f"\x1f{person.birth_date.isoformat()}"
    )


_TEAMS = ("Team Integration 1", "Team Integration 3", "Team U25", "Team Arbeitsvermittlung 2")
_STAFF = ("Sabine Beispiel", "Jonas Muster", "Aylin Probe", "Markus Testmann", "Olena Fiktiv")
_OFFICE_HOURS = ("Mo-Do 8-12 Uhr", "Mo, Di, Fr 8-12 Uhr, Do 14-18 Uhr", "nach Vereinbarung")
_MEASURES = (
    ("Aktivierungsmaßnahme Deutsch und Beruf", "Bildungsträger Neckar gGmbH (fiktiv)"),
    ("Berufsbezogener Sprachkurs B2 (DeuFöV)", "Sprachschule Kilian (fiktiv)"),
    ("Kompetenzfeststellung", "Bildungszentrum Unterland (fiktiv)"),
    ("Maßnahme bei einem Arbeitgeber (MAG)", "Betrieb in Heilbronn (fiktiv)"),
    ("Bewerbungscoaching", "Beratungsnetz Franken (fiktiv)"),
)
_HEALTH_NOTES = (
    "Keine schweren körperlichen Tätigkeiten (synthetischer Beispieltext).",
    "Tätigkeiten überwiegend im Sitzen empfohlen (synthetischer Beispieltext).",
)


@dataclass(frozen=True)
class _Profile:
    """What the simulated jobcenter records say about one person."""

    receives_benefit: bool
    application_pending: bool
    approved_for_days: int
    team: str
    contact_name: str
    phone: str
    email: str
    office_hours: str
    course: str
    obliged: bool
    obliged_for_days: int
    restrictions_known: bool


def _profile(person: _Person) -> _Profile:
    dice = _Dice("profile", _person_key(person))
    receives = dice.chance(80)
    team = dice.choice(_TEAMS)
    course = dice.choice(("integration_course", "job_related_language_course", "none"))
    return _Profile(
        receives_benefit=receives,
        application_pending=not receives and dice.chance(60),
        approved_for_days=dice.between(20, 330),
        team=team,
        contact_name=dice.choice(_STAFF),
        phone=f"07131 99{dice.between(100, 999)}-{dice.between(10, 99)}",
        email=f"{team.lower().replace(' ', '-')}@jobcenter.example",
        office_hours=dice.choice(_OFFICE_HOURS),
        course=course,
        obliged=course != "none",
        obliged_for_days=dice.between(30, 400),
        restrictions_known=dice.chance(20),
    )


def _benefit_status(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "receives_benefit": profile.receives_benefit,
        "application_pending": profile.application_pending,
    }
    if profile.receives_benefit:
        answer["approved_until"] = (today + timedelta(days=profile.approved_for_days)).isoformat()
    elif profile.application_pending:
        answer["remarks"] = "Unterlagen zum Antrag sind noch nicht vollständig."
    return answer


def _assigned_contact(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    return {
        "team": profile.team,
        "name": profile.contact_name,
        "phone": profile.phone,
        "email": profile.email,
        "office_hours": profile.office_hours,
    }


def _appointments(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    kinds = ("counselling", "placement", "benefit_interview", "measure_start", "other")
    appointments: list[dict[str, Any]] = []
    day = today
    for _ in range(dice.between(0, 3)):
        day += timedelta(days=dice.between(2, 12))
        room = f"{dice.between(1, 4)}.{dice.between(1, 30):02d}"
        starts = datetime.combine(
            day, daytime(dice.choice((8, 9, 10, 13, 14)), dice.choice((0, 30))), tzinfo=BERLIN
        )
        appointment: dict[str, Any] = {
            "starts_at": starts.isoformat(),
            "kind": dice.choice(kinds),
            "location": f"Jobcenter {query.jobcenter_key}, Raum {room}",
            "attendance_required": dice.chance(70),
        }
        if query.covers("assigned_contact"):
            appointment["contact_name"] = profile.contact_name
        appointments.append(appointment)
    return {"appointments": appointments}


def _measure(dice: _Dice, *, starts: date) -> dict[str, Any]:
    title, provider = dice.choice(_MEASURES)
    return {
        "title": title,
        "provider": provider,
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(weeks=dice.between(4, 26))).isoformat(),
    }


def _measures(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    obligation: dict[str, Any] = {"obliged": profile.obliged, "course": profile.course}
    if profile.obliged:
        obligation["obliged_since"] = (today - timedelta(days=profile.obliged_for_days)).isoformat()
    answer: dict[str, Any] = {
        "current_measures": [
            _measure(dice, starts=today - timedelta(days=dice.between(5, 60)))
            for _ in range(dice.between(0, 2))
        ],
        "planned_measures": [
            _measure(dice, starts=today + timedelta(days=dice.between(14, 90)))
            for _ in range(dice.between(0, 2))
        ],
        "course_obligation": obligation,
    }
    # Health is a special category: only with the consent's explicit say-so.
    if profile.restrictions_known and query.covers("health"):
        answer["health_restrictions"] = dice.choice(_HEALTH_NOTES)
    return answer


def _health(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    answer: dict[str, Any] = {"restrictions_known": profile.restrictions_known}
    if profile.restrictions_known:
        answer["summary"] = dice.choice(_HEALTH_NOTES)
        answer["medical_assessment_on"] = (
            today - timedelta(days=dice.between(30, 300))
        ).isoformat()
    return answer


def _parameter_date(parameters: dict[str, Any], name: str, *, default: date) -> date:
    try:
        return date.fromisoformat(str(parameters[name]))
    except (KeyError, ValueError):
        return default


def _wage_subsidy(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    hours = query.parameters.get("weekly_hours")
    part_time = isinstance(hours, int | float) and hours < 15
    assessment = "unlikely" if part_time else dice.choice(("likely", "likely", "needs_review"))
    starts_on = _parameter_date(query.parameters, "starts_on", default=today + timedelta(days=30))
    answer: dict[str, Any] = {"assessment": assessment}
    if assessment == "likely":
        answer["subsidy_percent_max"] = dice.choice((25, 30, 40, 50))
        answer["duration_months_max"] = dice.choice((6, 9, 12))
        answer["application_by"] = (
            max(starts_on, today + timedelta(days=1)) - timedelta(days=1)
        ).isoformat()
        answer["remarks"] = "Der Antrag muss vor Beginn des Arbeitsverhältnisses gestellt werden."
    elif assessment == "unlikely":
        answer["remarks"] = "Bei weniger als 15 Wochenstunden ist ein Zuschuss nicht vorgesehen."
    if query.covers("assigned_contact"):
        answer["contact"] = {"name": profile.contact_name, "phone": profile.phone}
    return answer


def _bridging_benefit(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    status = dice.choice(("not_applied", "pending", "approved", "approved", "rejected"))
    answer: dict[str, Any] = {"status": status}
    if status == "approved":
        first_wage = _parameter_date(
            query.parameters, "first_wage_payment_on", default=today + timedelta(days=30)
        )
        answer["amount_eur"] = float(dice.between(300, 900))
        answer["paid_on"] = min(first_wage, today + timedelta(days=7)).isoformat()
    if query.covers("benefit_status"):
        answer["benefit_continues"] = profile.receives_benefit and dice.chance(50)
    return answer


def _jobcenter_responsibility(
    query: _Query, profile: _Profile, dice: _Dice, today: date
) -> dict[str, Any]:
    # Every person the simulator is asked about is one of its customers.
    return {"responsible": True, "team": profile.team}


def _message(query: _Query, profile: _Profile, dice: _Dice, today: date) -> dict[str, Any]:
    # Never echoes the message: the simulator has nothing to say about it.
    return {
        "text": (
            f"Vielen Dank für Ihre Nachricht. {profile.team} meldet sich bis "
            f"{(today + timedelta(days=dice.between(1, 5))).strftime('%d.%m.%Y')}. "
            "(Automatische Antwort des Simulators)"
        )
    }


_Generator = Callable[[_Query, _Profile, _Dice, date], dict[str, Any]]
_GENERATORS: dict[str, _Generator] = {
    "benefit_status": _benefit_status,
    "assigned_contact": _assigned_contact,
    "upcoming_appointments": _appointments,
    "measures_and_course_obligation": _measures,
    "measure_health_restrictions": _health,
    "wage_subsidy_coordination": _wage_subsidy,
    "bridging_benefit": _bridging_benefit,
    "message_to_jobcenter": _message,
    "jobcenter_responsibility": _jobcenter_responsibility,
}
ANSWERABLE_QUESTIONS = frozenset(_GENERATORS)


def synthetic_answer(*, query: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """The simulator's answer to a contract DeliveredQuery (JSON); KeyError for other questions."""
    parsed = _Query.model_validate(query)
    return _answer(parsed, today=today or datetime.now(BERLIN).date())


def _answer(query: _Query, *, today: date) -> dict[str, Any]:
    generator = _GENERATORS[query.question]
    dice = _Dice(query.question, _person_key(query.person))
    return generator(query, _profile(query.person), dice, today)


# --------------------------------------------------------------------------- state


@dataclass
class _Entry:
    fingerprint: str
    answer: dict[str, Any]
    ready: bool


@dataclass
class SimulatorFaults:
    """How badly the simulated system behaves; applies to every endpoint of the contract.

    ``hang`` wins over the others: the request is held open without a byte of
    answer for as long as ``hang`` stays true (set it false from any thread to
    let them go), as a system whose threads are all stuck would. Otherwise
    ``delay_seconds`` pass first, then ``fail_status`` (if set) is answered as a
    problem instead of the real response.
    """

    delay_seconds: float = 0.0
    fail_status: int | None = None
    hang: bool = False
    #: requests that met a fault, for assertions
    affected: int = 0

    async def apply(self) -> JSONResponse | None:
        if self.hang:
            self.affected += 1
            while self.hang:  # polled, so another thread can end it without the event loop
                await asyncio.sleep(0.05)
        if self.delay_seconds > 0:
            self.affected += 1
            await asyncio.sleep(self.delay_seconds)
        if self.fail_status is not None:
            self.affected += 1
            return _problem(self.fail_status, "simulated-failure", "Simulated failure.")
        return None


@dataclass
class SimulatorState:
    """Everything the simulator remembers; in memory, since it is a simulator."""

    answer_mode: AnswerMode
    callback_secret: str | None
    callback_client: httpx.Client
    callback_delay_seconds: float
    faults: SimulatorFaults = field(default_factory=SimulatorFaults)
    entries: dict[str, _Entry] = field(default_factory=dict)
    #: (query_id, HTTP status or None when unreachable) per callback attempt
    callbacks: list[tuple[str, int | None]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-cb")
    )

    def wait_for_callback(self, query_id: str, *, timeout: float) -> int | None:
        """Block until a callback for ``query_id`` has been attempted; its last status."""
        with self.changed:
            self.changed.wait_for(
                lambda: any(qid == query_id for qid, _ in self.callbacks), timeout=timeout
            )
            statuses = [status for qid, status in self.callbacks if qid == query_id]
        if not statuses:
            raise TimeoutError(f"no callback for {query_id} within {timeout} s")
        return statuses[-1]

    def _answer_later(self, query_id: str, callback_url: str | None) -> None:
        time.sleep(self.callback_delay_seconds)
        with self.changed:
            entry = self.entries[query_id]
            entry.ready = True
            self.changed.notify_all()
        if callback_url is None:
            return  # the gateway polls
        if self.callback_secret is None:
            logger.warning("simulator.callback_unsigned_skipped", query_id=query_id)
            return  # never send an unsigned answer
        body = json.dumps(
            {"query_id": query_id, "answer": entry.answer}, ensure_ascii=False
        ).encode()
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            status: int | None = None
            # The same webhook-id on every retry lets the gateway drop duplicates.
            headers = sign_callback(
                secret=self.callback_secret, msg_id=f"msg_{query_id}", body=body
            )
            try:
                response = self.callback_client.post(
                    callback_url,
                    content=body,
                    headers={**headers, "Content-Type": "application/json"},
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                logger.warning(
                    "simulator.callback_failed", query_id=query_id, error=type(exc).__name__
                )
            logger.info(
                "simulator.callback", query_id=query_id, attempt=attempt, status_code=status
            )
            with self.changed:
                self.callbacks.append((query_id, status))
                self.changed.notify_all()
            if status is not None and (status < 500 and status not in {408, 429}):
                return  # delivered, or refused for good
            time.sleep(0.2 * 2 ** (attempt - 1))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- HTTP


def _problem(status: int, slug: str, title: str, detail: str | None = None) -> JSONResponse:
    # RFC 9457; the detail never repeats what the gateway sent about the person.
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _answered(query_id: str, answer: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"status": "answered", "query_id": query_id, "answer": answer})


def create_app(
    *,
    callback_secret: str | None = None,
    answer_mode: AnswerMode = "sync",
    callback_client: httpx.Client | None = None,
    callback_delay_seconds: float = 0.0,
    today: Callable[[], date] | None = None,
    faults: SimulatorFaults | None = None,
) -> FastAPI:
    """The simulated jobcenter system as an ASGI app.

    ``callback_client`` posts the async answers (give it the jobcenter's
    client certificate for mutual TLS); without it a plain client is created
    and closed with the app. ``today`` pins the calendar for tests.
    """
    owns_client = callback_client is None
    state = SimulatorState(
        answer_mode=answer_mode,
        callback_secret=callback_secret,
        callback_client=callback_client or httpx.Client(timeout=5.0),
        callback_delay_seconds=callback_delay_seconds,
        faults=faults or SimulatorFaults(),
    )
    current_day = today or (lambda: datetime.now(BERLIN).date())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()
        if owns_client:
            state.callback_client.close()

    app = FastAPI(
        title="Jobcenter system simulator",
        summary="Implements openapi/jobcenter-adapter.yaml with synthetic answers.",
        lifespan=lifespan,
    )
    app.state.simulator = state

    @app.post("/queries")
    async def deliver_query(
        request: Request,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        traceparent: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if (failed := await state.faults.apply()) is not None:
            return failed
        try:
            query = _Query.model_validate_json(await request.body())
        except ValidationError:
            # Pydantic's errors echo the input, which is personal data.
            return _problem(422, "invalid-query", "The body is not a DeliveredQuery.")
        if not idempotency_key:
            return _problem(400, "idempotency-key-missing", "Idempotency-Key is required.")
        if idempotency_key != query.query_id:
            return _problem(
                400, "idempotency-key-mismatch", "Idempotency-Key must be the query_id."
            )
        if query.direction != "municipality_asks_jobcenter" or query.question not in _GENERATORS:
            return _problem(
                422,
                "unknown-question",
                "This jobcenter system does not answer this question.",
                detail=f"question {query.question!r} is not answered here",
            )
        fingerprint = hashlib.sha256(query.model_dump_json().encode()).hexdigest()
        logger.info(
            "simulator.query",
            query_id=query.query_id,
            question=query.question,
            traceparent=traceparent if traceparent and is_valid_traceparent(traceparent) else None,
        )
        with state.changed:
            entry = state.entries.get(query.query_id)
            if entry is not None and entry.fingerprint != fingerprint:
                return _problem(
                    422, "idempotency-key-reused", "This Idempotency-Key came with another body."
                )
            first = entry is None
            if entry is None:
                entry = _Entry(
                    fingerprint=fingerprint,
                    answer=_answer(query, today=current_day()),
                    ready=state.answer_mode == "sync",
                )
                state.entries[query.query_id] = entry
        if state.answer_mode == "sync":
            return _answered(query.query_id, entry.answer)
        if first:
            state.executor.submit(state._answer_later, query.query_id, query.callback_url)
        return JSONResponse({"status": "accepted"}, status_code=202)

    @app.get("/queries/{query_id}/answer")
    async def fetch_answer(query_id: str) -> JSONResponse:
        if (failed := await state.faults.apply()) is not None:
            return failed
        with state.changed:
            entry = state.entries.get(query_id)
        if entry is None:
            return _problem(404, "unknown-query", "No such query.")
        if not entry.ready:
            return JSONResponse({"status": "pending"}, status_code=202)
        return _answered(query_id, entry.answer)

    @app.get("/health", response_model=None)
    async def health() -> JSONResponse | dict[str, str]:
        if (failed := await state.faults.apply()) is not None:
            return failed
        return {"status": "ok"}

    return app


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the simulator over mutual TLS with the development certificates."""
    import uvicorn  # only the command line needs a server

    parser = argparse.ArgumentParser(
        prog="python -m adapters.simulator",
        description="Serve the simulated jobcenter system over mutual TLS.",
        epilog=f"Async callbacks are signed with the secret in ${CALLBACK_ENV} (whsec_...).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--certs", type=Path, required=True, help="directory of certs-dev files")
    parser.add_argument("--answer-mode", choices=("sync", "async"), default="sync")
    parser.add_argument("--callback-delay", type=float, default=1.0, help="seconds (async mode)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument(
        "--fail-status", type=int, default=None, help="answer every request with this status"
    )
    parser.add_argument("--hang", action="store_true", help="never answer (a stuck system)")
    parser.add_argument(
        "--client-name",
        default=DEFAULT_CLIENT_NAME,
        help="client certificate (client-NAME.pem) the simulator presents on callbacks",
    )
    args = parser.parse_args(argv)
    certs: Path = args.certs
    server_cert, server_key, ca = certs / "server.pem", certs / "server-key.pem", certs / "ca.pem"
    client_cert = certs / f"client-{args.client_name}.pem"
    client_key = certs / f"client-{args.client_name}-key.pem"
    missing = [p for p in (server_cert, server_key, ca, client_cert, client_key) if not p.exists()]
    if missing:
        parser.error(
            f"missing {', '.join(map(str, missing))}: run .venv/bin/python certs-dev/generate.py"
        )
    callback_client = httpx.Client(
        verify=client_ssl_context(cert=client_cert, key=client_key, ca_bundle=ca), timeout=5.0
    )
    app = create_app(
        callback_secret=os.environ.get(CALLBACK_ENV),
        answer_mode=args.answer_mode,
        callback_client=callback_client,
        callback_delay_seconds=args.callback_delay,
        faults=SimulatorFaults(
            delay_seconds=args.delay, fail_status=args.fail_status, hang=args.hang
        ),
    )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            ssl_certfile=str(server_cert),
            ssl_keyfile=str(server_key),
            ssl_ca_certs=str(ca),
            ssl_cert_reqs=ssl.CERT_REQUIRED,  # mutual TLS: no client certificate, no handshake
        )
    finally:
        callback_client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
