"""Fixtures of the page tests: one site per backend, shared by the whole package.

Pages are tested as people use them, and nearly every test needs the same
world: organisations, users with passwords, a person of the first
municipality with a consent and a question routed to the jobcenter's inbox.
Built per test that would cost seconds on PostgreSQL, so it is built once per
backend (SQLite and PostgreSQL, from the migrated templates of
``tests/conftest.py``); a test that changes something creates its own person,
consent or account first, and compares the database before and after.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlmodel import Session

from gateway.app import create_app
from gateway.bootstrap import Container, build
from gateway.consents import repository as consent_repository
from gateway.database import unit_of_work
from gateway.organisations import repository as organisations
from gateway.organisations import service as organisation_service
from gateway.organisations.models import Role
from gateway.settings import Settings
from gateway.web.accounts import PasswordAccounts
from tests.conftest import POSTGRES_ADMIN_URL, _execute_admin
from tests.support import World, make_world
from tests.web.pages import (
    PASSWORD,
    Browser,
    ask_question,
    asked_query_id,
    audit_events,
    database_state,
    record_consent,
    recorded_consent_id,
    register_person,
)

# The person of the first municipality whose data no one else may see.
PERSON = {
    "given_name": "Amira",
    "family_name": "Haddad-Okonkwo",
    "birth_date": "1990-02-03",
    "customer_number": "JC-4711-XQ",
}


def fast_accounts(container: Container) -> PasswordAccounts:
    """``composition.build_accounts`` with cheap argon2id parameters.

    Hashing with the production parameters takes about half a second here; a
    package of sign-ins would spend most of its time in argon2. The production
    parameters are checked on their own in ``test_accounts``.
    """
    settings = container.settings
    return PasswordAccounts(
        audit=container.audit,
        lockout_attempts=settings.web_lockout_attempts,
        lockout=timedelta(minutes=settings.web_lockout_minutes),
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )


@dataclass
class Case:
    """What the first municipality has: a person, an active consent, a routed question."""

    subject: str
    consent: str
    query: str
    code: str
    consent_event: int  # seq of the consent.granted event (caused by the municipality)
    person: dict[str, str]


@dataclass
class Site:
    backend: str
    container: Container
    app: FastAPI
    world: World
    accounts: PasswordAccounts
    portal: BlockingPortal
    _browsers: dict[str, Browser] = field(default_factory=dict)

    def browser(self, language: str = "en") -> Browser:
        """A new browser without cookies, asking for pages in ``language``."""
        return Browser(self.app, language=language, portal=self.portal)

    def email(self, user_id: str) -> str:
        with Session(self.container.engine) as session:
            user = organisations.get_user(session, user_id)
            assert user is not None
            return user.email

    def signed_in(self, user_id: str) -> Browser:
        """A browser signed in as the user, shared by the tests (do not sign it out)."""
        if user_id not in self._browsers:
            browser = self.browser()
            done = browser.sign_in(self.email(user_id))
            assert done.status == 303, done.html
            self._browsers[user_id] = browser
        return self._browsers[user_id]

    def csrf_token(self, user_id: str) -> str:
        """The session's CSRF token of the user's shared browser, from their start page."""
        browser = self.signed_in(user_id)
        home = browser.get(browser.get("/web").location)
        assert home.status == 200, home.html
        return home.csrf_token("/web/signout")

    def new_user(self, organisation_id: str, role: Role, email: str) -> str:
        """An account of its own with the test password, for tests that change an account."""
        with unit_of_work(self.container.engine) as session:
            user = organisation_service.add_user(
                session,
                audit=self.container.audit,
                organisation_id=organisation_id,
                role=role,
                name="Test User",
                email=email,
            )
            self.accounts.set_password(session, user_id=user.id, password=PASSWORD)
            return user.id

    def state(self) -> dict[str, Any]:
        return database_state(self.container.engine)

    def self_service_code(self, consent_id: str) -> str:
        with Session(self.container.engine) as session:
            consent = consent_repository.get(session, consent_id)
            assert consent is not None
            return self.container.consents.self_service_code(consent)

    def consent_status(self, consent_id: str) -> str:
        with Session(self.container.engine) as session:
            consent = consent_repository.get(session, consent_id)
            assert consent is not None
            return consent.status.value


def _settings(directory: Any, database_url: str, issuer: str) -> Settings:
    return Settings(
        env="test",
        data_dir=directory / "data",
        database_url=database_url,
        issuer=issuer,
        audit_checkpoint_every=5,
        audit_checkpoint_seconds=3600,
        log_json=True,
    )


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp(f"web-{request.param}")
    database: str | None = None
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), directory / "gateway.db")
        url = f"sqlite:///{directory / 'gateway.db'}"
    else:
        template: str = request.getfixturevalue("postgres_template")
        database = f"gw_web_{os.getpid()}"
        _execute_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _execute_admin(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        url = (
            make_url(POSTGRES_ADMIN_URL)
            .set(database=database)
            .render_as_string(hide_password=False)
        )
    container = build(_settings(directory, url, "http://testserver"))
    app = create_app(container=container)
    accounts = fast_accounts(container)
    app.state.web.accounts = accounts
    world = make_world(container)
    with unit_of_work(container.engine) as session:
        for user_id in (
            world.manager,
            world.staff,
            world.dpo,
            world.other_manager,
            world.other_staff,
            world.other_dpo,
            world.operator_dpo,
        ):
            accounts.set_password(session, user_id=user_id, password=PASSWORD)
    with start_blocking_portal() as portal:
        yield Site(
            backend=str(request.param),
            container=container,
            app=app,
            world=world,
            accounts=accounts,
            portal=portal,
        )
    container.close()
    if database is not None:
        _execute_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="package")
def case(site: Site) -> Case:
    manager = site.signed_in(site.world.manager)
    subject = register_person(manager, **PERSON)
    consent = recorded_consent_id(
        record_consent(
            manager,
            subject,
            purposes=["benefit_coordination", "integration_planning"],
            categories=["benefit_status", "assigned_contact", "integration_plan_goals"],
            directions=["municipality_asks_jobcenter", "jobcenter_asks_municipality"],
        )
    )
    query = asked_query_id(ask_question(manager, subject, "benefit_status"))
    granted = audit_events(site.container.engine, "consent.granted")
    seq = next(e.seq for e in granted if e.consent_id == consent)
    return Case(
        subject=subject,
        consent=consent,
        query=query,
        code=site.self_service_code(consent),
        consent_event=seq,
        person=dict(PERSON),
    )
