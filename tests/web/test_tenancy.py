"""Tenancy on the pages: what one organisation has does not exist for another.

The URLs are generated from the router table: every page route under ``/web``
whose path names a person, consent, question or audit event is called by
people of another municipality and of another jobcenter with the ids of the
first municipality. They get 404, exactly what a made-up id gets, so a page
never tells whether something exists elsewhere. Where a page is not for the
caller's role at all, ``viewer.require`` answers 403 before any id is looked
at; that answer is the same for a made-up id and so tells nothing either.
"""

from __future__ import annotations

from tests.web.conftest import Case, Site
from tests.web.pages import (
    Browser,
    Page,
    ask_question,
    asked_query_id,
    changed_tables,
    page_routes,
    register_person,
)

MADE_UP = {
    "subject_id": "sub_000000000000000000000000",
    "consent_id": "con_000000000000000000000000",
    "query_id": "qry_000000000000000000000000",
    "seq": "999999999",
}
# Path parameters that name no data of an organisation.
NOT_DATA = {"language"}
# A form body that would be valid for any of the forms, so only tenancy can refuse it.
BODY = {
    "channel": "in_person",
    "answer.receives_benefit": "true",
    "question": "benefit_status",
    "purposes": "benefit_coordination",
    "categories": "benefit_status",
    "directions": "municipality_asks_jobcenter",
    "valid_until": "2099-01-01",
    "language": "de",
    "agreed": "yes",
}


def _ids(case: Case) -> dict[str, str]:
    return {
        "subject_id": case.subject,
        "consent_id": case.consent,
        "query_id": case.query,
        "seq": str(case.consent_event),
    }


def _strangers(site: Site) -> dict[str, str]:
    return {
        "manager of another municipality": site.world.other_manager,
        "staff of another jobcenter": site.world.other_staff,
        "officer of another municipality": site.world.other_dpo,
    }


def _secrets(case: Case) -> list[str]:
    """What of the first municipality's person must never reach anyone else."""
    return [
        case.person["family_name"],
        case.person["customer_number"],
        "03.02.1990",
        "Feb 3, 1990",
        "1990-02-03",
    ]


def _call(browser: Browser, method: str, url: str, token: str) -> Page:
    if method == "GET":
        return browser.get(url)
    return browser.post(url, {**BODY, "csrf_token": token})


def test_urls_naming_the_data_of_the_first_municipality_are_404_for_everyone_else(
    site: Site, case: Case
) -> None:
    real = _ids(case)
    routes = [r for r in page_routes(site.app, "/web") if set(r.params) - NOT_DATA]
    assert len(routes) >= 15
    failures: list[str] = []
    not_found: dict[str, int] = {}
    tokens = {user_id: site.csrf_token(user_id) for user_id in _strangers(site).values()}
    before = site.state()

    for who, user_id in _strangers(site).items():
        browser = site.signed_in(user_id)
        token = tokens[user_id]
        for route in routes:
            names = set(route.params) - NOT_DATA
            assert names <= set(real), f"{route.path}: teach this test the parameter {names}"
            for method in sorted(route.methods & {"GET", "POST"}):
                theirs = _call(browser, method, route.path.format(**real), token)
                where = f"{who}: {method} {route.path}"
                if theirs.status == 404:
                    not_found[who] = not_found.get(who, 0) + 1
                elif theirs.status != 403:
                    failures.append(f"{where}: {theirs.status}")
                elif "You may not open this page." not in theirs.main_text():
                    failures.append(f"{where}: 403 that is not the role's refusal")
                else:
                    # The role's refusal comes before any lookup: a made-up id gets the same.
                    invented = _call(browser, method, route.path.format(**MADE_UP), token)
                    if invented.status != 403:
                        failures.append(f"{where}: 403, but {invented.status} for a made-up id")
                leaked = [s for s in _secrets(case) if s in theirs.html]
                if leaked:
                    failures.append(f"{where}: shows {leaked}")

    assert failures == []
    # Every stranger reached the lookup of the ids on many pages, not only the role check.
    assert not_found["manager of another municipality"] >= 12
    assert not_found["staff of another jobcenter"] >= 10
    assert not_found["officer of another municipality"] >= 3
    assert changed_tables(before, site.state()) == []


def _links_to(page: Page, href: str) -> bool:
    return page.doc.find("a", href=href) is not None


def test_staff_of_another_jobcenter_do_not_see_the_inbox_of_the_first(
    site: Site, case: Case
) -> None:
    query_id = asked_query_id(
        ask_question(site.signed_in(site.world.manager), case.subject, "benefit_status")
    )
    assert _links_to(site.signed_in(site.world.staff).get("/web/inbox"), f"/web/queries/{query_id}")
    for user_id in (site.world.other_staff, site.world.other_manager):
        browser = site.signed_in(user_id)
        for url in ("/web/inbox", "/web/queries", "/web/queries?status=routed"):
            page = browser.get(url)
            assert page.status == 200
            assert not _links_to(page, f"/web/queries/{query_id}"), url
            assert not _links_to(page, f"/web/queries/{case.query}"), url


def test_lists_and_start_pages_show_nothing_of_another_organisation(site: Site, case: Case) -> None:
    pages = [r.path for r in page_routes(site.app, "/web") if not r.params and "GET" in r.methods]
    assert "/web/persons" in pages
    assert "/web/audit" in pages
    for user_id in _strangers(site).values():
        browser = site.signed_in(user_id)
        for url in pages:
            page = browser.get(url)
            if page.status == 303:
                page = browser.get(page.location)
            assert page.status in {200, 403}, url
            if page.response.headers["content-type"].startswith("text/html"):
                shown = page.html
            else:
                shown = page.response.content.decode("latin-1")
            for secret in (*_secrets(case), case.subject, case.consent, case.query):
                assert secret not in shown, (url, secret)


def test_a_person_found_by_name_shows_only_what_was_typed(site: Site, case: Case) -> None:
    """Name and birth date find the person; what the first municipality recorded stays there."""
    other = site.signed_in(site.world.other_manager)
    found = register_person(
        other,
        given_name=case.person["given_name"],
        family_name=case.person["family_name"],
        birth_date=case.person["birth_date"],
    )
    assert found == case.subject  # one person, one pseudonym, across the gateway
    page = other.get(f"/web/persons/{found}")
    assert page.status == 200
    text = page.main_text()
    assert case.person["family_name"] in text  # what they typed themselves
    assert case.person["customer_number"] not in text
    assert not _links_to(page, f"/web/consents/{case.consent}")
    assert not _links_to(page, f"/web/queries/{case.query}")
    assert "No consent yet." in text
    # Knowing the person opens no consent or question of the first municipality.
    assert other.get(f"/web/consents/{case.consent}").status == 404
    assert other.get(f"/web/queries/{case.query}").status == 404
