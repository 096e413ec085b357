"""Sign-in with the gateway's own accounts: cookies, failures, lockout, sign-out, sessions.

Throttling per client address and the lockout that only one address suffers are
replayed as attacks in ``tests/security/test_sign_in_throttling.py``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from gateway.app import create_app
from gateway.auth.models import SigninFailure
from gateway.bootstrap import build
from gateway.clock import utcnow
from gateway.database import unit_of_work
from gateway.errors import BadRequest
from gateway.organisations import repository as organisations
from gateway.organisations.models import Role
from gateway.web.composition import build_accounts
from gateway.web.models import WebSession
from tests.web.conftest import Site, fast_accounts
from tests.web.pages import (
    PASSWORD,
    Browser,
    Page,
    audit_events,
    changed_tables,
    cookie_attributes,
    set_cookie_headers,
)

_accounts = itertools.count()


def _own_account(site: Site, role: Role = Role.INTEGRATION_MANAGER) -> tuple[str, str]:
    """A fresh account of the first municipality: (user id, e-mail)."""
    email = f"account-{next(_accounts)}@brackenheim.example"
    return site.new_user(site.world.municipality, role, email), email


def _details(site: Site, event_type: str, user_id: str | None) -> list[dict[str, object]]:
    found = []
    for row in audit_events(site.container.engine, event_type):
        if row.user_id == user_id:
            found.append(json.loads(row.event).get("details", {}))
    return found


def _sessions_of(site: Site, user_id: str) -> int:
    with Session(site.container.engine) as session:
        rows = session.exec(select(WebSession).where(WebSession.user_id == user_id)).all()
        return len(rows)


def _failed_page(page: Page) -> None:
    assert page.status == 401
    alert = page.doc.find(role="alert")
    assert alert is not None
    assert "Sign-in failed." in alert.text()
    assert "gw_session" not in set_cookie_headers(page.response)


def test_signin_sets_a_session_cookie_that_scripts_cannot_read(site: Site) -> None:
    user_id, email = _own_account(site)
    browser = site.browser()
    form = browser.get("/web/signin", next="/web/queries")
    csrf_cookie = cookie_attributes(set_cookie_headers(form.response)["gw_csrf"])
    assert "httponly" in csrf_cookie
    assert csrf_cookie["samesite"].lower() == "strict"

    done = browser.submit(form, "/web/signin", email=email.upper(), password=PASSWORD)

    assert done.status == 303
    assert done.location == "/web/queries"
    cookie = cookie_attributes(set_cookie_headers(done.response)["gw_session"])
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie  # the issuer is http: a Secure cookie would never come back
    assert _details(site, "signin.succeeded", user_id) == [{"method": "password"}]
    assert browser.get("/web").location == "/web/persons"
    assert browser.get("/web/persons").status == 200


def test_each_signin_starts_a_new_session(site: Site) -> None:
    _user_id, email = _own_account(site)
    browser = site.browser()
    browser.sign_in(email)
    first = browser.cookie("gw_session")
    browser.sign_in(email)
    second = browser.cookie("gw_session")
    assert first
    assert second
    assert first != second  # no session fixation: a planted id never becomes signed in


@pytest.fixture(scope="module")
def https_app(site: Site) -> Iterator[FastAPI]:
    """The same gateway published at an https issuer."""
    settings = site.container.settings.model_copy(update={"issuer": "https://testserver"})
    container = build(settings)
    app = create_app(container=container)
    app.state.web.accounts = fast_accounts(container)
    yield app
    container.close()


def test_over_https_cookies_are_secure_and_host_only(site: Site, https_app: FastAPI) -> None:
    _user_id, email = _own_account(site)
    https_browser = Browser(https_app, base_url="https://testserver")
    form = https_browser.get("/web/signin")
    csrf_cookie = cookie_attributes(set_cookie_headers(form.response)["__Host-gw_csrf"])
    assert "secure" in csrf_cookie

    done = https_browser.submit(form, "/web/signin", email=email, password=PASSWORD)

    assert done.status == 303
    cookie = cookie_attributes(set_cookie_headers(done.response)["__Host-gw_session"])
    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "domain" not in cookie  # the __Host- prefix forbids it
    assert https_browser.get("/web/persons").status == 200
    # A cookie without the prefix (which any subdomain could plant) is not a session.
    value = https_browser.cookie("__Host-gw_session")
    assert value
    planted = Browser(https_app, base_url="https://testserver")
    planted.http.cookies.set("gw_session", value)
    assert planted.get("/web/persons").location.startswith("/web/signin")


def test_a_wrong_password_is_refused_and_audited(site: Site) -> None:
    user_id, email = _own_account(site)
    browser = site.browser()
    before = site.state()

    failed = browser.submit(
        browser.get("/web/signin"), "/web/signin", email=email, password="wrong " + PASSWORD
    )

    _failed_page(failed)
    assert failed.value("email") == email  # kept as typed
    assert failed.value("password") == ""  # a password is never sent back
    assert _details(site, "signin.failed", user_id) == [{"reason": "wrong_password"}]
    # The failure is counted and audited; no session is opened.
    assert "auth_signin_failures" in changed_tables(before, site.state())
    assert set(changed_tables(before, site.state())) <= {
        "auth_signin_failures",
        "audit_events",
        "audit_checkpoints",
    }
    assert _sessions_of(site, user_id) == 0
    assert browser.get("/web/persons").location.startswith("/web/signin")


def test_an_unknown_account_gets_the_same_answer(site: Site) -> None:
    _user_id, email = _own_account(site)
    browser = site.browser()
    wrong = browser.submit(
        browser.get("/web/signin"), "/web/signin", email=email, password="x" * 12
    )
    unknown_before = len(_details(site, "signin.failed", None))
    unknown = browser.submit(
        browser.get("/web/signin"),
        "/web/signin",
        email="nobody@brackenheim.example",
        password="x" * 12,
    )
    _failed_page(unknown)
    # Nothing on the page tells whether the account exists.
    assert unknown.main_text().replace("nobody@brackenheim.example", email) == wrong.main_text()
    unknown_failures = _details(site, "signin.failed", None)
    assert unknown_failures[unknown_before:] == [{"reason": "unknown_account"}]
    # The address typed is not on the audit trail.
    assert (
        "nobody@brackenheim.example"
        not in audit_events(site.container.engine, "signin.failed")[-1].event
    )


def test_repeated_failures_lock_the_account_even_for_the_right_password(site: Site) -> None:
    user_id, email = _own_account(site)
    attempts = site.container.settings.web_lockout_attempts
    browser = site.browser()
    for attempt in range(1, attempts + 1):
        failed = browser.submit(
            browser.get("/web/signin"), "/web/signin", email=email, password=f"wrong-{attempt:08d}"
        )
        _failed_page(failed)
        locked = _details(site, "signin.locked", user_id)
        assert len(locked) == (1 if attempt == attempts else 0)
    assert locked[0]["failures"] == attempts

    right = browser.submit(
        browser.get("/web/signin"), "/web/signin", email=email, password=PASSWORD
    )

    _failed_page(right)
    assert _details(site, "signin.failed", user_id)[-1] == {"reason": "locked"}
    assert _sessions_of(site, user_id) == 0

    # When the lock has run out, the right password signs in again.
    lockout = timedelta(minutes=site.container.settings.web_lockout_minutes)
    with unit_of_work(site.container.engine) as session:
        for row in session.exec(
            select(SigninFailure).where(SigninFailure.user_id == user_id)
        ).all():
            row.failed_at = utcnow() - lockout - timedelta(seconds=1)
            session.add(row)
    assert browser.sign_in(email).status == 303
    assert _sessions_of(site, user_id) == 1
    # ... and clears the account's failures from this address.
    with Session(site.container.engine) as session:
        left = session.exec(select(SigninFailure).where(SigninFailure.user_id == user_id)).all()
        assert left == []


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("", PASSWORD, "email", "Please fill in this field."),
        ("not-an-address", PASSWORD, "email", "Please enter an e-mail address."),
        ("im@brackenheim.example", "", "password", "Please fill in this field."),
    ],
)
def test_the_signin_form_names_what_is_missing(
    site: Site, email: str, password: str, field: str, message: str
) -> None:
    browser = site.browser()
    before = site.state()

    page = browser.submit(browser.get("/web/signin"), "/web/signin", email=email, password=password)

    assert page.status == 400
    assert page.field_error(field) == message
    assert page.value("email") == email
    summary = page.doc.by_id("error-summary")
    assert summary is not None
    assert message in summary.text()
    assert changed_tables(before, site.state()) == []


def test_signing_out_ends_the_session(site: Site) -> None:
    user_id, email = _own_account(site)
    browser = site.browser()
    browser.sign_in(email)
    value = browser.cookie("gw_session")
    assert value
    token = browser.token_for("/web/persons", "/web/signout")

    done = browser.post("/web/signout", {"csrf_token": token})

    assert done.status == 303
    assert done.location == "/web/signin?signed_out=true"
    removed = cookie_attributes(set_cookie_headers(done.response)["gw_session"])
    assert removed.get("max-age") == "0" or "expires" in removed
    assert _sessions_of(site, user_id) == 0
    assert browser.get("/web/persons").location.startswith("/web/signin")
    assert "You are signed out." in browser.get(done.location).main_text()
    # The old cookie, replayed, opens nothing.
    replay = site.browser()
    replay.http.cookies.set("gw_session", value)
    assert replay.get("/web/persons").location == "/web/signin?next=/web/persons"


def test_pages_send_visitors_without_a_session_to_sign_in_and_back(site: Site) -> None:
    _user_id, email = _own_account(site)
    browser = site.browser()
    away = browser.get("/web/queries", status="routed")
    assert away.status == 303
    assert away.location == "/web/signin?next=/web/queries?status=routed"
    form = browser.get(away.location)
    assert form.value("next") == "/web/queries?status=routed"
    done = browser.submit(form, "/web/signin", email=email, password=PASSWORD)
    assert done.location == "/web/queries?status=routed"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_signin_never_sends_people_to_another_site(site: Site, target: str) -> None:
    _user_id, email = _own_account(site)
    browser = site.browser()
    done = browser.sign_in(email, next_path=target)
    assert done.status == 303
    assert done.location == "/web"


def test_idle_and_ended_sessions_open_nothing(site: Site) -> None:
    user_id, email = _own_account(site)
    browser = site.browser()
    browser.sign_in(email)
    assert browser.get("/web/persons").status == 200
    idle = site.container.settings.web_idle_minutes
    with unit_of_work(site.container.engine) as session:
        for row in session.exec(select(WebSession).where(WebSession.user_id == user_id)).all():
            row.last_seen_at = utcnow() - timedelta(minutes=idle + 1)
            session.add(row)
    assert browser.get("/web/persons").location.startswith("/web/signin")

    browser.sign_in(email)
    assert browser.get("/web/persons").status == 200
    with unit_of_work(site.container.engine) as session:
        site.accounts.set_password(session, user_id=user_id, password=PASSWORD + "!")
    # A new password ends every open session of the account.
    assert browser.get("/web/persons").location.startswith("/web/signin")

    browser.sign_in(email, PASSWORD + "!")
    with unit_of_work(site.container.engine) as session:
        user = organisations.get_user(session, user_id)
        assert user is not None
        user.active = False
        session.add(user)
    assert browser.get("/web/persons").location.startswith("/web/signin")
    refused = browser.sign_in(email, PASSWORD + "!")
    _failed_page(refused)
    assert _details(site, "signin.failed", user_id)[-1] == {"reason": "no_web_access"}


def test_passwords_are_hashed_with_argon2id_at_production_strength(site: Site) -> None:
    user_id, _email = _own_account(site)
    with unit_of_work(site.container.engine) as session:
        build_accounts(site.container).set_password(
            session, user_id=user_id, password="another long passphrase"
        )
    with Session(site.container.engine) as session:
        user = organisations.get_user(session, user_id)
        assert user is not None
        stored = user.password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "another long passphrase" not in stored
    params = dict(part.split("=") for part in stored.split("$")[3].split(","))
    # OWASP Password Storage Cheat Sheet: at least m=19 MiB with t=2.
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2


@pytest.mark.parametrize("password", ["short", "aaaaaaaaaaaaaaaa"])
def test_weak_passwords_are_refused(site: Site, password: str) -> None:
    user_id, _email = _own_account(site)
    with unit_of_work(site.container.engine) as session, pytest.raises(BadRequest):
        site.accounts.set_password(session, user_id=user_id, password=password)
