"""Who may touch what: every ``/v1`` route with a path parameter, every method, every role.

The matrix is generated from ``app.routes``. Each route is filled with objects
owned by the first municipality (its subject, consent, query, audit event,
webhook subscription, confirmation link and self-service code) and called with
the token of every role: the municipality's own integration manager and data
protection officer, the jobcenter the consent names, the operator's data
protection officer and administrator, the municipality's case system without a
user (never anything about a person), and strangers (a manager and a DPO of
another municipality, staff of another jobcenter). The outcome of every cell is
written down in ``EXPECTED``.

Rules read from the code: another organisation's object does not exist for the
caller (404, never 403, so ids cannot be probed); a token without a user gets
403 ``user-required`` for everything about a person (the access guard); audit proofs and
checkpoints are public by design (leaf hashes only, like a transparency log);
confirmation links and self-service codes are capability URLs whose secret is
the authorisation, so every caller gets the same answer. A changing call by
anyone not entitled must leave the object as it was, which is checked too.

A route the matrix cannot fill (a path parameter missing from ``FILLERS``) or
whose outcomes are not written down in ``EXPECTED`` fails the test, so a new
endpoint cannot be forgotten.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from string import Formatter
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations import service as organisations
from gateway.organisations.models import Role
from tests.support import World

BENEFIT_ANSWER = {"receives_benefit": True, "approved_until": "2027-03-31"}
HOOK = "https://case-system.example/hooks"

# Run in this order; strangers first, so that a change they managed would show.
ROLES = (
    "other_manager",
    "other_dpo",
    "other_staff",
    "operator_dpo",
    "operator_admin",
    "client_only",
    "dpo",
    "staff",
    "manager",
)
STRANGERS = ("other_manager", "other_dpo", "other_staff")
_names = itertools.count()


@dataclass
class Case:
    """One person's case at the first municipality; each object made when first needed."""

    client: TestClient
    world: World
    manager: dict[str, str]
    staff: dict[str, str]
    number: int = field(default_factory=lambda: next(_names))

    def _consent(self, channel: str) -> dict[str, Any]:
        body = {
            "subject_id": self.subject_id,
            "jobcenter_id": self.world.jobcenter,
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": (date.today() + timedelta(days=180)).isoformat(),
            "language": "de",
            "evidence": {"channel": channel},
        }
        response = self.client.post("/v1/consents", json=body, headers=self.manager)
        assert response.status_code == 201, response.text
        return dict(response.json())

    @cached_property
    def subject_id(self) -> str:
        person = {
            "given_name": f"Amira{self.number}",
            "family_name": "Haddad",
            "birth_date": "1991-03-14",
            "municipality_key": "08125013",
        }
        response = self.client.post("/v1/subjects", json=person, headers=self.manager)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    @property
    def subject_with_consent(self) -> str:
        """The person as the consent's parties know them (a bare registration is one-sided)."""
        self.consent_id  # noqa: B018
        return self.subject_id

    @cached_property
    def consent_id(self) -> str:
        return str(self._consent("paper_signature")["id"])

    @cached_property
    def query_id(self) -> str:
        self.consent_id  # noqa: B018  # the query runs under the consent
        response = self.client.post(
            "/v1/queries",
            json={
                "subject_id": self.subject_id,
                "question": "benefit_status",
                "purpose": "benefit_coordination",
            },
            headers={**self.manager, "Idempotency-Key": f"matrix-{self.number}"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "routed", response.text  # waits in the inbox
        return str(response.json()["id"])

    @cached_property
    def seq(self) -> str:
        self.query_id  # noqa: B018  # the event of asking it
        events = self.client.get(
            "/v1/audit/events",
            params={"type": "query.asked", "consent": self.consent_id},
            headers=self.dpo_headers,
        ).json()["items"]
        assert len(events) == 1, events
        return str(events[0]["seq"])

    @cached_property
    def dpo_headers(self) -> dict[str, str]:
        return self.world.case_system.bearer(self.client, user_id=self.world.dpo)

    @cached_property
    def subscription_id(self) -> str:
        response = self.client.post(
            "/v1/webhooks",
            json={"url": HOOK, "event_types": ["consent.revoked"]},
            headers=self.manager,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    @cached_property
    def confirmation_token(self) -> str:
        url = self._consent("own_phone")["confirmation_url"]
        return str(url).rsplit("/", 1)[1]

    @cached_property
    def self_service_code(self) -> str:
        receipt = self.client.get(
            f"/v1/consents/{self.consent_id}/receipt", headers=self.manager
        ).json()
        return str(receipt["self_service_code"])

    def snapshot(self) -> dict[str, Any]:
        """What the owner sees of the objects made so far: a stranger's call must not change it."""
        seen: dict[str, Any] = {}
        if "subject_id" in self.__dict__:
            seen["events_about_subject"] = len(
                self.client.get(
                    "/v1/audit/events",
                    params={"subject": self.subject_id, "limit": 500},
                    headers=self.dpo_headers,
                ).json()["items"]
            )
        if "consent_id" in self.__dict__:
            seen["consent"] = self.client.get(
                f"/v1/consents/{self.consent_id}", headers=self.manager
            ).json()
        if "query_id" in self.__dict__:
            query = self.client.get(f"/v1/queries/{self.query_id}", headers=self.staff).json()
            seen["query"] = {k: query[k] for k in ("status", "answered_at") if k in query}
        if "subscription_id" in self.__dict__:
            seen["webhooks"] = self.client.get("/v1/webhooks", headers=self.manager).json()
        return seen


# Path parameter -> the first municipality's object that fills it.
FILLERS: dict[str, Callable[[Case], str]] = {
    "subject_id": lambda case: case.subject_with_consent,
    "consent_id": lambda case: case.consent_id,
    "query_id": lambda case: case.query_id,
    "seq": lambda case: case.seq,
    "subscription_id": lambda case: case.subscription_id,
    "token": lambda case: case.confirmation_token,
    "code": lambda case: case.self_service_code,
    "jobcenter_key": lambda case: "JC-08125",  # the consent's jobcenter
}

_REVOKE = {"channel": "case_system", "reason": "Akte geschlossen"}
_REASON = {"reason": "Rückfrage zur Einwilligung"}


def _amendment(case: Case) -> dict[str, Any]:
    return {
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_until": (date.today() + timedelta(days=90)).isoformat(),
        "language": "de",
        "evidence": {"channel": "paper_signature"},
    }


Body = Callable[[Case], dict[str, Any]]


@dataclass(frozen=True)
class Expect:
    """The status each role gets, in the order of ``ROLES``; ``body`` builds the request body."""

    statuses: tuple[int, ...]
    body: Body | None = None
    public: bool = False  # by design the same for every caller, strangers included

    def status(self, role: str) -> int:
        return self.statuses[ROLES.index(role)]


def row(statuses: tuple[int, ...], *, body: Body | None = None) -> Expect:
    assert len(statuses) == len(ROLES)
    return Expect(statuses=statuses, body=body)


def public(status: int, *, body: Body | None = None) -> Expect:
    return Expect(statuses=(status,) * len(ROLES), body=body, public=True)


# 404: the object does not exist for this caller (another organisation's, or not a party).
# 403: the role's token lacks the scope (a DPO never changes a consent, the operator's
#      officer reads consents by the rules), or a decision needs a user and there is none.
# The bare case system (client_only, no user) has no role, and every rule about a person
# needs one: 403 user-required wherever personal data is read or changed (docs/security.md).
EXPECTED: dict[tuple[str, str], Expect] = {
    #                 other_manager, other_dpo, other_staff, operator_dpo, operator_admin,
    #                 client_only, dpo, staff, manager
    ("PATCH", "/v1/subjects/{subject_id}"): row(
        (404, 403, 404, 403, 404, 403, 403, 200, 200),
        body=lambda case: {"municipality_key": "08125056"},
    ),
    ("GET", "/v1/consents/{consent_id}"): row((404, 404, 404, 200, 404, 403, 200, 200, 200)),
    ("POST", "/v1/consents/{consent_id}/amend"): row(
        (404, 404, 404, 403, 404, 403, 403, 403, 201), body=_amendment
    ),
    ("POST", "/v1/consents/{consent_id}/revoke"): row(
        (404, 403, 404, 403, 404, 403, 403, 200, 200), body=lambda case: _REVOKE
    ),
    # The grantee's code to read to the jobcenter on the phone: the jobcenter cannot issue it.
    ("POST", "/v1/consents/{consent_id}/verification-code"): row(
        (404, 403, 404, 403, 404, 403, 403, 404, 201)
    ),
    ("POST", "/v1/consents/{consent_id}/pause"): row(
        (404, 403, 404, 403, 404, 403, 403, 200, 200), body=lambda case: _REASON
    ),
    # The consent is active, so its parties hear 409 (not paused); everyone else as above.
    ("POST", "/v1/consents/{consent_id}/resume"): row(
        (404, 403, 404, 403, 404, 403, 403, 409, 409), body=lambda case: _REASON
    ),
    ("GET", "/v1/consents/{consent_id}/receipt"): row(
        (404, 404, 404, 200, 404, 403, 200, 200, 200)
    ),
    # Capability URLs: the secret in the path is the authorisation, the bearer is irrelevant.
    ("GET", "/v1/confirmations/{token}"): public(200),
    ("POST", "/v1/confirmations/{token}"): public(200),
    ("GET", "/v1/self-service/{code}"): public(200),
    ("GET", "/v1/self-service/{code}/report"): public(200),
    ("POST", "/v1/self-service/{code}/revoke"): public(200),
    ("GET", "/v1/queries/{query_id}"): row((404, 403, 404, 403, 404, 403, 403, 200, 200)),
    ("POST", "/v1/queries/{query_id}/answer"): row(
        (404, 403, 404, 403, 404, 403, 403, 200, 404), body=lambda case: {"answer": BENEFIT_ANSWER}
    ),
    ("POST", "/v1/queries/{query_id}/cancel"): row((404, 403, 404, 403, 404, 403, 403, 404, 200)),
    # Signed per Standard Webhooks, not by a bearer; no secret is configured for this jobcenter.
    ("POST", "/v1/adapter-callbacks/{jobcenter_key}"): row(
        (404, 404, 404, 404, 404, 404, 404, 404, 404),
        body=lambda case: {"query_id": case.query_id, "answer": BENEFIT_ANSWER},
    ),
    # webhooks.own_organisation: the organisation's working roles; a DPO, or a token without
    # a user, manages none (403); another organisation's subscription does not exist (404).
    ("DELETE", "/v1/webhooks/{subscription_id}"): row(
        (404, 403, 404, 403, 404, 403, 403, 404, 204)
    ),
    # The DPO's report: own organisation (and its children); the operator's officers see all.
    ("GET", "/v1/audit/subjects/{subject_id}/report"): row(
        (403, 404, 403, 200, 200, 403, 200, 403, 403)
    ),
    # Public by design: an inclusion proof holds hashes only.
    ("GET", "/v1/audit/proof/{seq}"): public(200),
}


def routes_with_path_parameters(app: FastAPI) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        methods = getattr(context.original_route, "methods", None) or set()
        if path.startswith("/v1/") and "{" in path:
            found.update((method, path) for method in methods if method != "HEAD")
    return sorted(found, key=lambda route: (route[1], route[0]))


def _parameters(path: str) -> list[str]:
    return [name.split(":")[0] for _, name, _, _ in Formatter().parse(path) if name]


def _tokens(client: TestClient, world: World, container: Container) -> dict[str, dict[str, str]]:
    with unit_of_work(container.engine) as session:
        admin = organisations.add_user(
            session,
            audit=container.audit,
            organisation_id=world.operator,
            role=Role.ADMIN,
            name="Operator Admin",
            email="admin@operator.example",
        ).id
    return {
        "other_manager": world.other_case_system.bearer(client, user_id=world.other_manager),
        "other_dpo": world.other_case_system.bearer(client, user_id=world.other_dpo),
        "other_staff": world.other_jobcenter_system.bearer(client, user_id=world.other_staff),
        "operator_dpo": world.operator_client.bearer(client, user_id=world.operator_dpo),
        "operator_admin": world.operator_client.bearer(client, user_id=admin),
        "client_only": world.case_system.bearer(client),
        "dpo": world.case_system.bearer(client, user_id=world.dpo),
        "staff": world.jobcenter_system.bearer(client, user_id=world.staff),
        "manager": world.case_system.bearer(client, user_id=world.manager),
    }


def test_every_route_with_a_path_parameter_is_in_the_matrix(client: TestClient) -> None:
    routes = routes_with_path_parameters(client.app)  # type: ignore[arg-type]
    unfillable = [
        (method, path)
        for method, path in routes
        if any(name not in FILLERS for name in _parameters(path))
    ]
    assert not unfillable, f"add fillers for these routes' path parameters: {unfillable}"
    assert sorted(set(routes) - set(EXPECTED)) == [], "write down who may call these routes"
    assert sorted(set(EXPECTED) - set(routes)) == [], "these routes are gone: drop them"


def test_nothing_is_readable_or_changeable_outside_its_owner(
    client: TestClient, world: World, container: Container
) -> None:
    tokens = _tokens(client, world, container)
    routes = routes_with_path_parameters(client.app)  # type: ignore[arg-type]
    failures: list[str] = []
    for method, path in routes:
        expect = EXPECTED.get((method, path))
        if expect is None:
            failures.append(f"{method} {path}: not in EXPECTED")
            continue
        changing = method != "GET"
        case = Case(client, world, tokens["manager"], tokens["staff"])
        baseline: dict[str, Any] | None = None
        for role in ROLES:
            url = path.format(**{name: FILLERS[name](case) for name in _parameters(path)})
            body = expect.body(case) if expect.body else None
            if changing and baseline is None:
                baseline = case.snapshot()
            response = client.request(method, url, json=body, headers=tokens[role])
            status, text = response.status_code, response.text[:300]
            if status != expect.status(role):
                failures.append(
                    f"{method} {path} as {role}: {status}, expected {expect.status(role)}: {text}"
                )
            if role in STRANGERS and status < 400 and not expect.public:
                failures.append(f"{method} {path}: a stranger ({role}) got {status}")
            if changing and status >= 400 and role in STRANGERS and case.snapshot() != baseline:
                failures.append(f"{method} {path}: refused for {role}, yet {url} changed")
            if changing and status < 400:
                # The change went through: the next role gets a case of its own.
                case = Case(client, world, tokens["manager"], tokens["staff"])
                baseline = None
    assert not failures, "\n".join(failures)


def test_a_stranger_is_told_nothing_an_unknown_id_would_not_tell(
    client: TestClient, world: World, container: Container
) -> None:
    """404 for another organisation's object reads exactly like 404 for no object at all."""
    tokens = _tokens(client, world, container)
    case = Case(client, world, tokens["manager"], tokens["staff"])
    for path, real, stranger in (
        ("/v1/consents/{}", case.consent_id, tokens["other_manager"]),
        ("/v1/queries/{}", case.query_id, tokens["other_staff"]),
        ("/v1/audit/subjects/{}/report", case.subject_id, tokens["other_dpo"]),
    ):
        mine = client.get(path.format(real), headers=stranger)
        unknown = client.get(path.format("does-not-exist"), headers=stranger)
        assert mine.status_code == unknown.status_code == 404
        assert mine.headers["content-type"] == "application/problem+json"
        assert {k: v for k, v in mine.json().items() if k != "instance"} == {
            k: v for k, v in unknown.json().items() if k != "instance"
        }
