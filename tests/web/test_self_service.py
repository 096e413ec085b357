"""The person's own pages: the code from the receipt, withdrawal, confirmation on their phone."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.consents.models import ConsentStatus, StatusReason
from gateway.consents.service import normalise_code
from gateway.web.i18n import load_translations
from gateway.web.labels import STATUS_LABELS
from gateway.web.rendering import SECURITY_HEADERS
from tests.web.conftest import Case, Site
from tests.web.pages import (
    Page,
    ask_question,
    asked_query_id,
    audit_events,
    changed_tables,
    confirmation_path,
    event_about,
    linked_consent_id,
    record_consent,
    recorded_consent_id,
    register_person,
)

UNKNOWN_CODE = "ABCD-EFGH-JKMN-PQRS"


def _texts(site: Site, language: str) -> dict[str, Any]:
    return dict(site.container.consent_texts.get(language).sections)


def _heading(page: Page) -> str:
    heading = page.doc.find("h1")
    assert heading is not None, page.html
    return heading.text()


@pytest.fixture(scope="module")
def subject(site: Site) -> str:
    return register_person(
        site.signed_in(site.world.manager),
        given_name="Mohammad",
        family_name="Rezaei",
        birth_date="1997-09-23",
    )


def test_the_code_from_the_receipt_opens_the_persons_page(site: Site, case: Case) -> None:
    person = site.browser()
    form = person.get("/self-service")
    assert form.status == 200
    typed = case.code.lower().replace("-", " ")  # as people type it

    opened = person.submit(form, "/self-service", code=typed)

    assert opened.status == 303
    assert opened.location.startswith(f"/self-service/{normalise_code(case.code)}?lang=")
    page = person.get(opened.location)
    assert page.status == 200
    for header, value in SECURITY_HEADERS.items():
        assert page.response.headers[header] == value  # no Referer: the code is in the URL
    text = page.main_text()
    assert "Stadt Brackenheim – Jobcenter Landkreis Heilbronn" in text
    accesses = page.doc.find("tbody")
    assert accesses is not None
    assert "Stadt Brackenheim" in accesses.text()  # who asked about the person
    # The person's page names organisations, never the staff or other people.
    assert site.email(site.world.manager) not in page.html
    withdraw = f"/self-service/{normalise_code(case.code)}/revoke?lang={page.root.attrs['lang']}"
    assert page.doc.find("a", href=withdraw) is not None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (UNKNOWN_CODE, "This code is not known. Please check it against your receipt."),
        ("ABCD", "This code is not known. Please check it against your receipt."),
        ("", "Please fill in this field."),
    ],
)
def test_a_wrong_code_is_refused(site: Site, code: str, message: str) -> None:
    person = site.browser()
    before = site.state()
    page = person.submit(person.get("/self-service"), "/self-service", code=code)
    assert page.status == 400
    assert page.field_error("code") == message
    assert page.value("code") == code
    assert changed_tables(before, site.state()) == []


@pytest.mark.parametrize(
    "url",
    [
        f"/self-service/{UNKNOWN_CODE}",
        f"/self-service/{UNKNOWN_CODE}/revoke",
        "/confirm/not-a-token",
    ],
)
def test_an_unknown_code_or_link_is_a_page_in_the_persons_language(site: Site, url: str) -> None:
    page = site.browser().get(url, lang="ar")
    assert page.status == 404
    assert (page.root.attrs["lang"], page.root.attrs["dir"]) == ("ar", "rtl")
    assert page.doc.find("nav") is None  # the person's layout: no staff navigation
    assert page.doc.find("a", href="/self-service") is not None


def test_withdrawing_on_the_persons_page(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    consent_id = recorded_consent_id(record_consent(manager, subject))
    query_id = asked_query_id(ask_question(manager, subject, "benefit_status"))
    code = normalise_code(site.self_service_code(consent_id))
    person = site.browser()
    confirm = person.get(f"/self-service/{code}/revoke")
    assert confirm.status == 200
    action = confirm.form(f"/self-service/{code}/revoke").attrs["action"]
    before = site.state()

    forged = person.post(action, {"csrf_token": "not-the-cookie"})

    assert forged.status == 403
    assert forged.root.attrs["lang"] == "de"  # the consent's language, carried in the form
    assert forged.doc.find("nav") is None  # the person's layout, not a page for staff
    assert changed_tables(before, site.state()) == []
    assert site.consent_status(consent_id) == "active"

    done = person.submit(confirm, action)

    assert done.status == 303
    assert done.location.endswith("&revoked=true")
    # The person ended it: the service's status for that is "withdrawn" (not "revoked").
    assert site.consent_status(consent_id) == ConsentStatus.WITHDRAWN.value
    event = event_about(site.container.engine, "consent.revoked", consent_id)
    assert event["details"] == {
        "channel": "self_service",
        "declared_via": "self_service_code",
        "status": ConsentStatus.WITHDRAWN.value,
        "status_reason": StatusReason.WITHDRAWN_BY_PERSON.value,
    }
    # The person, by the code, not an organisation
    assert event["actor"] == {"kind": "person", "via": "self_service_code"}
    # Revocation stops what was asked under the consent at once.
    answered = site.signed_in(site.world.manager).get(f"/web/queries/{query_id}")
    assert STATUS_LABELS["cancelled"] in answered.main_text()

    page = person.get(done.location)
    assert _texts(site, "de")["self_service"]["revoked"] in page.main_text()
    assert page.doc.find("a", href=f"/self-service/{code}/revoke?lang=de") is None
    again = person.get(f"/self-service/{code}/revoke")
    assert again.doc.find("form", action=action) is None
    assert person.submit(confirm, action).status == 409


@pytest.mark.parametrize(("language", "direction"), [("ar", "rtl"), ("fa", "rtl"), ("uk", "ltr")])
def test_the_persons_page_speaks_the_language_of_the_consent(
    site: Site, subject: str, language: str, direction: str
) -> None:
    manager = site.signed_in(site.world.manager)
    consent_id = recorded_consent_id(record_consent(manager, subject, language=language))
    code = normalise_code(site.self_service_code(consent_id))
    person = site.browser(language="de")  # the browser's language does not decide

    page = person.get(f"/self-service/{code}")

    assert (page.root.attrs["lang"], page.root.attrs["dir"]) == (language, direction)
    assert _heading(page) == _texts(site, language)["self_service"]["title"]
    revoke = person.get(f"/self-service/{code}/revoke")
    assert (revoke.root.attrs["lang"], revoke.root.attrs["dir"]) == (language, direction)
    # The person may switch; the choice is carried along.
    german = person.get(f"/self-service/{code}", lang="de")
    assert (german.root.attrs["lang"], german.root.attrs["dir"]) == ("de", "ltr")
    assert german.doc.find("a", href=f"/self-service/{code}/revoke?lang=de") is not None


def test_confirming_a_consent_on_the_persons_own_phone(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    shown = record_consent(manager, subject, channel="own_phone", language="fa", evidence={})
    path = confirmation_path(shown)
    consent_id = linked_consent_id(shown)
    phone = site.browser(language="de")

    page = phone.get(path)

    assert page.status == 200
    assert (page.root.attrs["lang"], page.root.attrs["dir"]) == ("fa", "rtl")
    text = page.doc.find("section", class_="consent-text")
    assert text is not None
    assert (text.attrs["lang"], text.attrs["dir"]) == ("fa", "rtl")
    assert site.consent_status(consent_id) == "pending"
    action = page.form(path).attrs["action"]
    before = site.state()

    assert phone.post(action, {}).status == 403
    assert changed_tables(before, site.state()) == []

    confirmed = phone.submit(page, action)

    assert confirmed.status == 200
    assert site.consent_status(consent_id) == "active"
    assert site.self_service_code(consent_id) in confirmed.main_text()
    assert any(
        e.consent_id == consent_id for e in audit_events(site.container.engine, "consent.confirmed")
    )
    used = phone.get(path)
    assert used.status == 404
    # The consent is unknown to a used link: the page speaks the phone's language.
    assert used.root.attrs["lang"] == "de"
    assert used.doc.find("nav") is None


def test_a_paused_consent_can_still_be_withdrawn(site: Site, subject: str) -> None:
    """The service lets the person end a paused consent; the pages must offer it too."""
    manager = site.signed_in(site.world.manager)
    consent_id = recorded_consent_id(record_consent(manager, subject))
    api = TestClient(site.app)
    paused = api.post(
        f"/v1/consents/{consent_id}/pause",
        json={"reason": "Zuständigkeit wird geklärt"},
        headers=site.world.case_system.bearer(api, user_id=site.world.manager),
    )
    assert paused.status_code == 200, paused.text
    assert site.consent_status(consent_id) == ConsentStatus.PAUSED.value
    staff_page = manager.get(f"/web/consents/{consent_id}")
    assert STATUS_LABELS[ConsentStatus.PAUSED.value] in staff_page.main_text()
    assert staff_page.doc.find("a", href=f"/web/consents/{consent_id}/revoke") is not None
    code = normalise_code(site.self_service_code(consent_id))
    person = site.browser()

    page = person.get(f"/self-service/{code}")

    # The person's page speaks the consent's language, so the label arrives translated.
    translations = load_translations()[page.root.attrs["lang"]]
    assert translations.gettext(STATUS_LABELS[ConsentStatus.PAUSED.value]) in page.main_text()
    confirm = person.get(f"/self-service/{code}/revoke")
    done = person.submit(confirm, confirm.form(f"/self-service/{code}/revoke").attrs["action"])
    assert done.status == 303
    assert site.consent_status(consent_id) == ConsentStatus.WITHDRAWN.value


def test_the_person_sees_questions_a_statute_allowed_without_their_consent(
    site: Site, subject: str
) -> None:
    manager = site.signed_in(site.world.manager)
    consent_id = recorded_consent_id(record_consent(manager, subject))
    code = normalise_code(site.self_service_code(consent_id))
    person = site.browser()

    def accesses() -> list[str]:
        page = person.get(f"/self-service/{code}", lang="en")
        body = page.doc.find("tbody")
        assert body is not None
        return [row.text() for row in body.find_all("tr")]

    before = accesses()
    ask_question(manager, subject, "jobcenter_responsibility")
    after = accesses()

    assert len(after) == len(before) + 1
    [added] = [row for row in after if row not in before]
    assert "Stadt Brackenheim" in added
    assert "Question about you" in added  # asked (or refused for want of a jobcenter)
