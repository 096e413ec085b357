"""Issue 15, finding 13: sign-in attempts for unknown accounts ran argon2 and wrote an
audit event each, without limit, and five wrong passwords locked any staff account for
fifteen minutes: a lockout anyone could trigger.

Replayed from an attacker's address against the sign-in form. Expected
(``gateway.auth.signin_throttle``): the address is paused after its limit (429 with
``Retry-After``; no argon2, no row, no audit event per refused attempt; one
``signin.throttled`` event), the pause is shared by every process on the database and
ends when the window slides on; and wrong passwords lock the account for the attacker's
address only, while its owner signs in from their own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.app import create_app
from gateway.audit.models import AuditEventRow, AuditPendingRow
from gateway.auth.models import SigninFailure
from gateway.bootstrap import Container, build
from gateway.clock import utcnow
from gateway.database import unit_of_work
from gateway.organisations import repository as organisations
from gateway.settings import Settings
from gateway.web.accounts import PasswordAccounts
from tests.support import World

ATTACKER = ("198.51.100.7", 40001)
STAFF = ("203.0.113.20", 40002)
PASSWORD = "correct horse battery staple"
ADDRESS_ATTEMPTS = 5
LOCKOUT_ATTEMPTS = 3
PAUSED_TEXT = "Sign-in from your network is paused"
PAUSED_TEXT_DE = "Anmeldung aus Ihrem Netzwerk"


class CountingHasher(PasswordHasher):
    """Cheap argon2id parameters (the production ones are tested in tests/web), counted."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "web_signin_address_attempts": ADDRESS_ATTEMPTS,
            "web_lockout_attempts": LOCKOUT_ATTEMPTS,
        }
    )


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


def _accounts(container: Container, hasher: PasswordHasher) -> PasswordAccounts:
    settings = container.settings
    return PasswordAccounts(
        audit=container.audit,
        lockout_attempts=settings.web_lockout_attempts,
        lockout=timedelta(minutes=settings.web_lockout_minutes),
        hasher=hasher,
    )


@pytest.fixture
def app(container: Container, world: World, hasher: CountingHasher) -> FastAPI:
    app = create_app(container=container)
    app.state.web.accounts = _accounts(container, hasher)
    with unit_of_work(container.engine) as session:
        app.state.web.accounts.set_password(session, user_id=world.manager, password=PASSWORD)
    return app


def _browser(app: FastAPI, address: tuple[str, int], language: str = "en") -> TestClient:
    return TestClient(
        app, client=address, follow_redirects=False, headers={"Accept-Language": language}
    )


def _sign_in(browser: TestClient, email: str, password: str) -> Response:
    form = browser.get("/web/signin")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found is not None
    response: Response = browser.post(
        "/web/signin",
        data={"csrf_token": found.group(1), "email": email, "password": password, "next": "/web"},
    )
    return response


def _manager_email(container: Container, world: World) -> str:
    with Session(container.engine) as session:
        user = organisations.get_user(session, world.manager)
        assert user is not None
        return user.email


def _events(container: Container, event_type: str) -> int:
    with Session(container.engine) as session:
        query = select(func.count()).select_from(AuditEventRow)
        return int(session.exec(query.where(AuditEventRow.event_type == event_type)).one())


def _all_events(container: Container) -> int:
    """Sequenced and not yet sequenced events alike."""
    with Session(container.engine) as session:
        sequenced = session.exec(select(func.count()).select_from(AuditEventRow)).one()
        pending = session.exec(select(func.count()).select_from(AuditPendingRow)).one()
        return int(sequenced) + int(pending)


def _failure_rows(container: Container) -> int:
    with Session(container.engine) as session:
        return int(session.exec(select(func.count()).select_from(SigninFailure)).one())


def _unknown() -> str:
    return f"nobody-{secrets.token_hex(4)}@example.org"


@pytest.fixture
def attacker(app: FastAPI) -> Iterator[TestClient]:
    with _browser(app, ATTACKER) as browser:
        yield browser


def test_unknown_account_attempts_pause_the_address_not_the_gateway(
    app: FastAPI,
    attacker: TestClient,
    container: Container,
    world: World,
    hasher: CountingHasher,
) -> None:
    for _ in range(ADDRESS_ATTEMPTS):
        assert _sign_in(attacker, _unknown(), "x" * 12).status_code == 401
    assert _events(container, "signin.failed") == ADDRESS_ATTEMPTS
    assert _events(container, "signin.throttled") == 1

    checked, rows, failed = hasher.verified, _failure_rows(container), _all_events(container)
    window = container.settings.web_signin_address_minutes * 60
    for _ in range(20):
        refused = _sign_in(attacker, _unknown(), "x" * 12)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= window
        assert PAUSED_TEXT in refused.text
    # The right password of a real account is not even looked at from there.
    assert _sign_in(attacker, _manager_email(container, world), PASSWORD).status_code == 429
    assert hasher.verified == checked, "argon2 ran for a paused address"
    assert _failure_rows(container) == rows
    assert _events(container, "signin.failed") == ADDRESS_ATTEMPTS
    assert _events(container, "signin.throttled") == 1
    assert _all_events(container) == failed

    # The page says it in German too.
    with _browser(app, ATTACKER, language="de") as german:
        assert PAUSED_TEXT_DE in _sign_in(german, _unknown(), "x" * 12).text

    # Staff elsewhere are not affected.
    with _browser(app, STAFF) as staff:
        assert _sign_in(staff, _manager_email(container, world), PASSWORD).status_code == 303


def test_the_pause_is_shared_by_every_process_and_slides_on(
    attacker: TestClient, container: Container, settings: Settings, hasher: CountingHasher
) -> None:
    for _ in range(ADDRESS_ATTEMPTS):
        assert _sign_in(attacker, _unknown(), "x" * 12).status_code == 401

    # A second gateway process on the same database knows the address is paused.
    with build(settings) as other:
        second = create_app(container=other)
        second.state.web.accounts = _accounts(other, hasher)
        with _browser(second, ATTACKER) as browser:
            assert _sign_in(browser, _unknown(), "x" * 12).status_code == 429

    # When the oldest failure leaves the window, the address may try once more.
    window = timedelta(minutes=settings.web_signin_address_minutes)
    with unit_of_work(container.engine) as session:
        oldest = session.exec(
            select(SigninFailure).order_by(SigninFailure.failed_at).limit(1)  # type: ignore[arg-type]
        ).one()
        oldest.failed_at = utcnow() - window - timedelta(seconds=1)
        session.add(oldest)
    assert _sign_in(attacker, _unknown(), "x" * 12).status_code == 401
    assert _sign_in(attacker, _unknown(), "x" * 12).status_code == 429

    # The scheduler forgets an address once no window counts its failures.
    with unit_of_work(container.engine) as session:
        container.auth.purge_expired(session)
    assert _failure_rows(container) == ADDRESS_ATTEMPTS
    longest = max(settings.web_signin_address_minutes, settings.web_lockout_minutes)
    with unit_of_work(container.engine) as session:
        for row in session.exec(select(SigninFailure)).all():
            row.failed_at = utcnow() - timedelta(minutes=longest, seconds=1)
            session.add(row)
    with unit_of_work(container.engine) as session:
        container.auth.purge_expired(session)
    assert _failure_rows(container) == 0


def test_wrong_passwords_lock_the_account_only_for_the_address_they_came_from(
    app: FastAPI, attacker: TestClient, container: Container, world: World
) -> None:
    email = _manager_email(container, world)
    for attempt in range(LOCKOUT_ATTEMPTS):
        assert _sign_in(attacker, email, f"wrong guess {attempt:04d}").status_code == 401
    assert _events(container, "signin.locked") == 1
    # Locked for the attacker's address, even with the right password ...
    assert _sign_in(attacker, email, PASSWORD).status_code == 401

    # ... but the manager signs in from their own, at once.
    with _browser(app, STAFF) as staff:
        done = _sign_in(staff, email, PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/web"
