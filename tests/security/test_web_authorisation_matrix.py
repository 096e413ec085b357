"""Who may open what on the pages: every page route with a path parameter, every role.

The pages' counterpart of ``tests/reliability/test_authorisation_matrix.py``.
The routes are generated from ``app.routes`` (paths under ``/web/``,
``/self-service`` and ``/confirm`` with a path parameter, GET and POST), filled
with objects of the first municipality made through the API (a person, a
consent, a question, an audit event, a self-service code, a confirmation link)
and called from a browser signed in as every role: the municipality's
integration manager and data protection officer, the jobcenter's staff, the
operator's data protection officer, strangers (a manager and an officer of
another municipality, staff of another jobcenter), and a browser without a
session. The outcome of every cell is written down in ``EXPECTED``.

Rules checked besides the statuses:

* a stranger never gets a 2xx, and gets for the first municipality's ids what a
  made-up id gets (404, or the role's 403 that comes before any lookup), so a
  page never tells whether something exists elsewhere;
* a browser without a session is sent to the sign-in page from every ``/web``
  page that names data;
* a POST that is refused (4xx, or the sign-in redirect) leaves the database
  exactly as it was;
* what a page shows: no officer sees a self-service code or the person's name,
  no jobcenter staff sees the code, no stranger sees either.

The self-service code and the confirmation link are capability URLs: the secret
in the path is the authorisation, so every browser gets the same answer.

A route missing from ``EXPECTED`` or with a path parameter missing from
``FILLERS`` fails the test, so a new page cannot be forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from string import Formatter
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session

from gateway.app import create_app
from gateway.bootstrap import Container
from gateway.consents import repository as consent_repository
from gateway.database import unit_of_work
from gateway.organisations import repository as organisations
from tests.reliability.test_authorisation_matrix import BENEFIT_ANSWER, Case
from tests.support import World
from tests.web.conftest import fast_accounts
from tests.web.pages import PASSWORD, Browser, Page, changed_tables, database_state

PREFIXES = ("/web/", "/self-service", "/confirm")
# Strangers first, so that a change they managed would show.
ROLES = (
    "other_manager",
    "other_dpo",
    "other_staff",
    "operator_dpo",
    "anonymous",
    "dpo",
    "staff",
    "manager",
)
STRANGERS = frozenset({"other_manager", "other_dpo", "other_staff"})
OFFICERS = frozenset({"dpo", "operator_dpo", "other_dpo"})
# Who must never see the self-service code: it withdraws the consent in the person's name.
NO_CODE = STRANGERS | OFFICERS | {"staff", "anonymous"}
# Who must never see the person's name or birth date.
NO_NAME = STRANGERS | OFFICERS | {"anonymous"}
CODE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b")
SIGN_IN = "/web/signin"

FILLERS: dict[str, Callable[[Case], str]] = {
    "subject_id": lambda case: case.subject_with_consent,
    "consent_id": lambda case: case.consent_id,
    "query_id": lambda case: case.query_id,
    "seq": lambda case: case.seq,
    "token": lambda case: case.confirmation_token,
    "code": lambda case: case.self_service_code,
    "language": lambda case: "en",
}
MADE_UP = {
    "subject_id": "sub_000000000000000000000000",
    "consent_id": "con_000000000000000000000000",
    "query_id": "qry_000000000000000000000000",
    "seq": "999999999",
    "language": "en",
}

Form = dict[str, str | list[str]]
Body = Callable[[Case], Form]


def _terms(case: Case) -> Form:
    """The consent's terms as the form sends them, so that only the authorisation refuses."""
    return {
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "jobcenter_id": case.world.jobcenter,
        "channel": "paper_signature",
        "valid_until": (date.today() + timedelta(days=180)).isoformat(),
        "language": "de",
        "agreed": "yes",
    }


def _revoke(case: Case) -> Form:
    return {"channel": "in_person", "reason": "Akte geschlossen"}


def _answer(case: Case) -> Form:
    return {f"answer.{key}": str(value).lower() for key, value in BENEFIT_ANSWER.items()}


def _question(case: Case) -> Form:
    return {"question": "benefit_status"}


@dataclass(frozen=True)
class Expect:
    """The status each role gets, in the order of ``ROLES``."""

    statuses: tuple[int, ...]
    body: Body | None = None
    public: bool = False  # a capability URL: the same for every browser, strangers included

    def status(self, role: str) -> int:
        return self.statuses[ROLES.index(role)]


def row(statuses: tuple[int, ...], *, body: Body | None = None) -> Expect:
    assert len(statuses) == len(ROLES)
    return Expect(statuses=statuses, body=body)


def public(status: int) -> Expect:
    return Expect(statuses=(status,) * len(ROLES), public=True)


# 404: the object does not exist for this caller (another organisation's, or not a party).
# 403: the page is not for the caller's role; refused before any lookup, as for a made-up id.
# 303: a browser without a session goes to the sign-in page; a done change goes on to a page.
EXPECTED: dict[tuple[str, str], Expect] = {
    #        other_manager, other_dpo, other_staff, operator_dpo, anonymous, dpo, staff, manager
    # A preference, not data: the sign-in page offers it too, so no session is needed.
    ("GET", "/web/language/{language}"): row((303, 303, 303, 303, 303, 303, 303, 303)),
    ("GET", "/web/persons/{subject_id}"): row((404, 403, 404, 403, 303, 403, 200, 200)),
    ("GET", "/web/persons/{subject_id}/consents/new"): row(
        (404, 403, 403, 403, 303, 403, 403, 200)
    ),
    ("POST", "/web/persons/{subject_id}/consents/new"): row(
        (404, 403, 403, 403, 303, 403, 403, 200), body=_terms
    ),
    # Without the review step's text fields the manager's form is sent back (400, no change).
    ("POST", "/web/persons/{subject_id}/consents"): row(
        (404, 403, 403, 403, 303, 403, 403, 400), body=_terms
    ),
    ("GET", "/web/persons/{subject_id}/queries/new"): row((404, 403, 404, 403, 303, 403, 200, 200)),
    ("POST", "/web/persons/{subject_id}/queries"): row(
        (404, 403, 404, 403, 303, 403, 400, 303), body=_question
    ),
    ("GET", "/web/consents/{consent_id}"): row((404, 404, 404, 200, 303, 200, 200, 200)),
    ("GET", "/web/consents/{consent_id}/signature"): row((404, 404, 404, 404, 303, 404, 404, 404)),
    # As the API's receipt; only the recording manager's copy carries the self-service code.
    ("GET", "/web/consents/{consent_id}/receipt"): row((404, 404, 404, 200, 303, 200, 200, 200)),
    ("GET", "/web/consents/{consent_id}/revoke"): row((404, 403, 404, 403, 303, 403, 200, 200)),
    ("POST", "/web/consents/{consent_id}/revoke"): row(
        (404, 403, 404, 403, 303, 403, 303, 303), body=_revoke
    ),
    ("GET", "/web/queries/{query_id}"): row((404, 403, 404, 403, 303, 403, 200, 200)),
    ("POST", "/web/queries/{query_id}/answer"): row(
        (404, 403, 404, 403, 303, 403, 303, 404), body=_answer
    ),
    ("POST", "/web/queries/{query_id}/cancel"): row((404, 403, 404, 403, 303, 403, 404, 303)),
    # The audit pages are the officers' (403 by role); another municipality's officer: 404.
    ("GET", "/web/audit/events/{seq}"): row((403, 404, 403, 200, 303, 200, 403, 403)),
    # Capability URLs: the secret in the path is the authorisation, the session is irrelevant.
    ("GET", "/self-service/{code}"): public(200),
    ("GET", "/self-service/{code}/revoke"): public(200),
    ("POST", "/self-service/{code}/revoke"): public(303),
    ("GET", "/confirm/{token}"): public(200),
    ("POST", "/confirm/{token}"): public(200),
}


# Cells that must show the secret the leak check looks for, so the check is seen to work.
SHOWS_CODE = {("GET", "/web/consents/{consent_id}/receipt", "manager")}
SHOWS_NAME = {("GET", "/web/persons/{subject_id}", "manager")}


def page_routes_with_path_parameters(app: FastAPI) -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        methods = getattr(context.original_route, "methods", None) or set()
        if path.startswith(PREFIXES) and "{" in path:
            found.update((method, path) for method in methods if method in {"GET", "POST"})
    return sorted(found, key=lambda route: (route[1], route[0]))


def _parameters(path: str) -> list[str]:
    return [name.split(":")[0] for _, name, _, _ in Formatter().parse(path) if name]


@dataclass
class Pages:
    """One app without its lifespan (no ticker writing while states are compared)."""

    app: FastAPI
    api: TestClient
    browsers: dict[str, Browser]
    csrf: dict[str, str]
    manager: dict[str, str]  # API bearer headers that make the cases
    staff: dict[str, str]


@pytest.fixture
def pages(container: Container, world: World) -> Iterator[Pages]:
    app = create_app(container=container)
    accounts = fast_accounts(container)
    app.state.web.accounts = accounts
    users = {
        "other_manager": world.other_manager,
        "other_dpo": world.other_dpo,
        "other_staff": world.other_staff,
        "operator_dpo": world.operator_dpo,
        "dpo": world.dpo,
        "staff": world.staff,
        "manager": world.manager,
    }
    with unit_of_work(container.engine) as session:
        for user_id in users.values():
            accounts.set_password(session, user_id=user_id, password=PASSWORD)
    with start_blocking_portal() as portal:
        api = TestClient(app)
        api.portal = portal
        browsers: dict[str, Browser] = {"anonymous": Browser(app, portal=portal)}
        csrf: dict[str, str] = {"anonymous": ""}
        for role, user_id in users.items():
            with Session(container.engine) as session:
                user = organisations.get_user(session, user_id)
                assert user is not None
                email = user.email
            browser = Browser(app, portal=portal)
            done = browser.sign_in(email)
            assert done.status == 303, done.html
            home = browser.get(browser.get("/web").location)
            assert home.status == 200, home.html
            browsers[role] = browser
            csrf[role] = home.csrf_token("/web/signout")
        yield Pages(
            app=app,
            api=api,
            browsers=browsers,
            csrf=csrf,
            manager=world.case_system.bearer(api, user_id=world.manager),
            staff=world.jobcenter_system.bearer(api, user_id=world.staff),
        )


def _new_case(pages: Pages, world: World) -> Case:
    return Case(pages.api, world, pages.manager, pages.staff)


def _call(pages: Pages, role: str, method: str, url: str, body: Form | None) -> Page:
    browser = pages.browsers[role]
    if method == "GET":
        return browser.get(url)
    if url.startswith(("/self-service", "/confirm")):
        # Double-submit: the form's token is the CSRF cookie the page sets.
        shown = browser.get(url)
        token = shown.csrf_token(None) if shown.status == 200 else ""
        return browser.post(url, {"csrf_token": token})
    return browser.post(url, {**(body or {}), "csrf_token": pages.csrf[role]})


def _code_of(container: Container, consent_id: str) -> str:
    with Session(container.engine) as session:
        consent = consent_repository.get(session, consent_id)
        assert consent is not None
        return container.consents.self_service_code(consent)


def _codes(case: Case, container: Container, shown: str) -> list[str]:
    codes = set(CODE.findall(shown))
    if "consent_id" in case.__dict__:
        own = _code_of(container, case.consent_id)
        codes |= {own} if own in shown else set()
    return sorted(codes)


def _names(case: Case, shown: str) -> list[str]:
    person = [f"Amira{case.number}", "Haddad", "1991-03-14", "14.03.1991", "Mar 14, 1991"]
    return [part for part in person if part in shown]


def _leaks(case: Case, container: Container, cell: tuple[str, str, str], page: Page) -> list[str]:
    shown = page.response.content.decode("utf-8", "replace")
    role = cell[2]
    codes, names = _codes(case, container, shown), _names(case, shown)
    leaked: list[str] = []
    if role in NO_CODE and codes:
        leaked.append(f"shows the self-service code {codes}")
    if role in NO_NAME and names:
        leaked.append(f"shows the person's {names}")
    if cell in SHOWS_CODE and not codes:
        leaked.append("shows no code: the leak check is blind")
    if cell in SHOWS_NAME and not names:
        leaked.append("shows no name: the leak check is blind")
    return leaked


# The route table does not depend on the database: listed once, on SQLite.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_route_with_a_path_parameter_is_in_the_matrix(
    container: Container,
) -> None:
    routes = page_routes_with_path_parameters(create_app(container=container))
    assert len(routes) >= 20
    unfillable = [
        (method, path)
        for method, path in routes
        if any(name not in FILLERS for name in _parameters(path))
    ]
    assert not unfillable, f"add fillers for these routes' path parameters: {unfillable}"
    assert sorted(set(routes) - set(EXPECTED)) == [], "write down who may open these pages"
    assert sorted(set(EXPECTED) - set(routes)) == [], "these pages are gone: drop them"


def test_no_page_is_open_or_changeable_outside_its_owner(
    pages: Pages, world: World, container: Container
) -> None:
    failures: list[str] = []
    matrix: dict[tuple[str, str], list[int]] = {}
    for method, path in page_routes_with_path_parameters(pages.app):
        expect = EXPECTED.get((method, path))
        if expect is None:
            failures.append(f"{method} {path}: not in EXPECTED")
            continue
        changing = method == "POST"
        case = _new_case(pages, world)
        baseline: dict[str, Any] | None = None
        for role in ROLES:
            url = path.format(**{name: FILLERS[name](case) for name in _parameters(path)})
            if changing and baseline is None:
                baseline = database_state(container.engine)
            body = expect.body(case) if expect.body else None
            page = _call(pages, role, method, url, body)
            status, where = page.status, f"{method} {path} as {role}"
            matrix.setdefault((method, path), []).append(status)
            signed_out = status in {302, 303} and page.location.startswith(SIGN_IN)
            if status != expect.status(role):
                failures.append(
                    f"{where}: {status} {page.location}, expected {expect.status(role)}"
                )
            if expect.public:
                pass
            elif role in STRANGERS:
                if 200 <= status < 300:
                    failures.append(f"{where}: a stranger got {status}")
                invented = _call(
                    pages,
                    role,
                    method,
                    path.format(**{n: MADE_UP[n] for n in _parameters(path)}),
                    body,
                )
                if invented.status != status:
                    failures.append(f"{where}: {status}, but {invented.status} for a made-up id")
            elif role == "anonymous" and path != "/web/language/{language}" and not signed_out:
                failures.append(f"{where}: {status} {page.location}, not sent to sign in")
            if not expect.public:
                leaks = _leaks(case, container, (method, path, role), page)
                failures.extend(f"{where}: {leak}" for leak in leaks)
            refused = status >= 400 or signed_out
            if changing and refused:
                changed = changed_tables(baseline or {}, database_state(container.engine))
                if changed:
                    failures.append(f"{where}: refused with {status}, yet {changed} changed")
            if changing and not refused:
                # The change may have gone through: the next role gets a case of its own.
                case = _new_case(pages, world)
                baseline = None
    print("\n".join(f"{m:4} {p:45} {s}" for (m, p), s in matrix.items()))
    assert not failures, "\n".join(failures)
