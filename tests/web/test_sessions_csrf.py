"""Every form that changes something refuses a request without the right CSRF token.

The POST routes are taken from the application's router table, so a new form
is covered the day it is added. Forms of a signed-in user carry the session's
synchronizer token; the forms without a session (sign-in, the person's pages)
a double-submit token that must equal their cookie. A refused form changes
nothing in the database.
"""

from __future__ import annotations

import string

from gateway.web.rendering import SECURITY_HEADERS
from tests.web.conftest import Case, Site
from tests.web.pages import (
    PASSWORD,
    Page,
    audit_events,
    changed_tables,
    confirmation_path,
    page_routes,
    record_consent,
    set_cookie_headers,
)

EXPIRED = "The form has expired. Please load the page again."
# Forms without a session: a double-submit token instead of the session's.
ANONYMOUS = ("/web/signin", "/self-service", "/confirm/")


def _post_routes(site: Site) -> list[str]:
    return [
        route.path
        for route in page_routes(site.app, "/web", "/self-service", "/confirm")
        if "POST" in route.methods
    ]


def _bodies(site: Site) -> dict[str, dict[str, str | list[str]]]:
    """What each form would send if the person meant it: only the token is wrong."""
    return {
        "/web/signin": {"email": site.email(site.world.manager), "password": PASSWORD},
        "/web/persons": {
            "given_name": "Csrf",
            "family_name": "Probe",
            "birth_date": "1980-01-01",
        },
        "/web/persons/{subject_id}/consents/new": {
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "jobcenter_id": site.world.jobcenter,
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": "2099-01-01",
            "language": "de",
            "channel": "paper_signature",
        },
        "/web/persons/{subject_id}/consents": {
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "jobcenter_id": site.world.jobcenter,
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": "2099-01-01",
            "language": "de",
            "channel": "paper_signature",
            "agreed": "yes",
        },
        "/web/consents/{consent_id}/revoke": {"channel": "in_person"},
        "/web/persons/{subject_id}/queries": {"question": "benefit_status"},
        "/web/queries/{query_id}/answer": {"answer.receives_benefit": "true"},
        "/self-service": {"code": "unused"},
    }


def _url(path: str, ids: dict[str, str]) -> str:
    names = [name for _, name, _, _ in string.Formatter().parse(path) if name]
    missing = set(names) - set(ids)
    assert not missing, f"{path}: no test value for {missing}; add one to this test"
    return path.format(**{name: ids[name] for name in names})


def _refused(page: Page) -> list[str]:
    problems = []
    if page.status != 403:
        problems.append(f"status {page.status}")
    elif EXPIRED not in page.main_text():
        problems.append("not the expired-form page")
    if any(page.response.headers.get(k) != v for k, v in SECURITY_HEADERS.items()):
        problems.append("security headers missing")
    if "gw_session" in set_cookie_headers(page.response):
        problems.append("a session cookie was set")
    return problems


def test_every_form_refuses_a_missing_or_wrong_token_and_changes_nothing(
    site: Site, case: Case
) -> None:
    manager = site.signed_in(site.world.manager)
    phone = record_consent(manager, case.subject, channel="own_phone")
    ids = {
        "subject_id": case.subject,
        "consent_id": case.consent,
        "query_id": case.query,
        "code": case.code,
        "token": confirmation_path(phone).rsplit("/", 1)[1],
    }
    bodies = _bodies(site)
    foreign = site.signed_in(site.world.staff).token_for("/web/inbox", "/web/signout")
    routes = _post_routes(site)
    assert "/web/signout" in routes
    assert "/web/queries/{query_id}/answer" in routes
    failures: list[str] = []
    signed_in_before = len(audit_events(site.container.engine, "signin.succeeded"))
    before = site.state()

    for path in routes:
        url = _url(path, ids)
        body = bodies.get(path, {})
        if path.startswith(ANONYMOUS):
            fresh = site.browser()  # no cookie at all
            attempts = {
                "no token, no cookie": (fresh, body),
                "a token without its cookie": (fresh, {**body, "csrf_token": foreign}),
            }
            with_cookie = site.browser()
            own = with_cookie.token_for("/web/signin")
            assert own
            attempts["cookie but no field"] = (with_cookie, body)
            attempts["field unlike the cookie"] = (with_cookie, {**body, "csrf_token": foreign})
        else:
            attempts = {
                "no token": (manager, body),
                "empty token": (manager, {**body, "csrf_token": ""}),
                "another session's token": (manager, {**body, "csrf_token": foreign}),
            }
        for what, (browser, data) in attempts.items():
            page = browser.post(url, data)
            failures.extend(f"POST {path} ({what}): {p}" for p in _refused(page))
        changed = changed_tables(before, site.state())
        if changed:
            failures.append(f"POST {path} changed {changed}")
            before = site.state()

    assert failures == []
    assert len(audit_events(site.container.engine, "signin.succeeded")) == signed_in_before
    assert manager.get("/web/persons").status == 200  # still signed in: nothing was ended


def test_a_form_of_the_own_session_is_accepted(site: Site, case: Case) -> None:
    """The other side of the coin: the token the page gave is the one that works."""
    browser = site.browser()
    browser.sign_in(site.email(site.world.dpo))
    token = browser.token_for("/web/audit", "/web/signout")
    assert browser.post("/web/audit/checkpoint", {"csrf_token": token + "x"}).status == 403
    done = browser.post("/web/audit/checkpoint", {"csrf_token": token})
    assert done.status == 303
    assert done.location == "/web/audit/verify"


def test_the_token_belongs_to_the_session(site: Site) -> None:
    first, second = site.browser(), site.browser()
    first.sign_in(site.email(site.world.dpo))
    second.sign_in(site.email(site.world.dpo))
    token_first = first.token_for("/web/audit", "/web/signout")
    token_second = second.token_for("/web/audit", "/web/signout")
    assert token_first != token_second
    assert first.post("/web/signout", {"csrf_token": token_second}).status == 403
    assert first.get("/web/audit").status == 200
