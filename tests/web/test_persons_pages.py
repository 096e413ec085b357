"""Finding or registering a person, and the person's page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.web.conftest import Case, Site
from tests.web.pages import audit_events, changed_tables, register_person


def test_a_person_is_registered_once_and_found_again(site: Site) -> None:
    manager = site.signed_in(site.world.manager)
    registered_before = len(audit_events(site.container.engine, "subject.registered"))

    subject = register_person(
        manager, given_name="Jelena", family_name="Petrović", birth_date="1988-11-30"
    )

    page = manager.get(f"/web/persons/{subject}")
    assert page.status == 200
    heading = page.doc.find("h1")
    assert heading is not None
    assert heading.text() == "Petrović, Jelena"
    assert subject in page.main_text()
    assert "No consent yet." in page.main_text()
    assert "Petrović, Jelena" in manager.get("/web/persons").main_text()
    events = audit_events(site.container.engine, "subject.registered")
    assert [e.subject_id for e in events[registered_before:]] == [subject]
    assert "Petrović" not in events[-1].event  # the trail keeps the pseudonym only

    # The same person typed a little differently is found, not registered twice.
    again = register_person(
        manager, given_name=" jelena ", family_name="PETROVIĆ", birth_date="1988-11-30"
    )
    assert again == subject
    assert len(audit_events(site.container.engine, "subject.registered")) == registered_before + 1


def test_jobcenter_staff_find_a_person_by_name_and_birth_date(site: Site, case: Case) -> None:
    staff = site.signed_in(site.world.staff)
    found = register_person(
        staff,
        given_name=case.person["given_name"],
        family_name=case.person["family_name"],
        birth_date=case.person["birth_date"],
    )
    assert found == case.subject
    page = staff.get(f"/web/persons/{found}")
    assert page.status == 200
    # The jobcenter is a party to the person's consent: it sees it. The customer number the
    # municipality gave stays with the municipality; the jobcenter sees the one it gives.
    assert page.doc.find("a", href=f"/web/consents/{case.consent}") is not None
    assert case.person["customer_number"] not in page.main_text()
    again = register_person(
        staff,
        given_name=case.person["given_name"],
        family_name=case.person["family_name"],
        birth_date=case.person["birth_date"],
        customer_number=case.person["customer_number"],
    )
    assert again == case.subject
    assert case.person["customer_number"] in staff.get(f"/web/persons/{found}").main_text()


TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"given_name": "  "}, "given_name", "Please fill in this field."),
        ({"family_name": "x" * 201}, "family_name", "At most 200 characters."),
        ({"birth_date": "03.02.1990"}, "birth_date", "Please enter a date as YYYY-MM-DD."),
        ({"birth_date": TOMORROW}, "birth_date", "The birth date is not plausible."),
        ({"birth_date": "1899-12-31"}, "birth_date", "The birth date is not plausible."),
        ({"customer_number": "12 34"}, "customer_number", "3 to 30 letters, digits or hyphens."),
        ({"given_name": "--"}, "given_name", "Given and family name must contain letters."),
    ],
)
def test_the_person_form_names_the_wrong_field_and_keeps_the_entries(
    site: Site, changes: dict[str, str], field: str, message: str
) -> None:
    manager = site.signed_in(site.world.manager)
    entries = {
        "given_name": "Farid",
        "family_name": "Rahimi",
        "birth_date": "1979-05-17",
        "customer_number": "123D456",
        **changes,
    }
    before = site.state()

    page = manager.submit(manager.get("/web/persons"), "/web/persons", **entries)

    assert page.status == 400
    assert page.field_error(field) == message
    assert list(page.errors()) == [f"f-{field}"]  # only the field that is wrong
    for name, typed in entries.items():
        assert page.value(name) == typed
    assert changed_tables(before, site.state()) == []


def test_a_person_page_that_does_not_exist(site: Site) -> None:
    manager = site.signed_in(site.world.manager)
    page = manager.get("/web/persons/sub_000000000000000000000000")
    assert page.status == 404
    assert "This page does not exist, or it is not visible to you." in page.main_text()


def test_data_protection_officers_do_not_work_on_persons(site: Site, case: Case) -> None:
    """Persons, questions and the inbox are for integration managers and jobcenter staff."""
    dpo = site.signed_in(site.world.dpo)
    for url in (
        "/web/persons",
        f"/web/persons/{case.subject}",
        "/web/inbox",
        "/web/queries",
        f"/web/queries/{case.query}",
    ):
        page = dpo.get(url)
        assert page.status == 403
        assert "You may not open this page." in page.main_text()
        assert case.person["family_name"] not in page.html
    token = dpo.token_for("/web/audit", "/web/signout")
    before = site.state()
    refused = dpo.post(
        "/web/persons",
        {"csrf_token": token, "given_name": "A", "family_name": "B", "birth_date": "1990-01-01"},
    )
    assert refused.status == 403
    assert changed_tables(before, site.state()) == []


def test_finding_a_person_is_audited_and_says_nothing_of_other_organisations(site: Site) -> None:
    # A person of their own, not the package's case: the other municipality keeps what it finds.
    person = {"given_name": "Oksana", "family_name": "Bondar", "birth_date": "1984-06-09"}
    manager = site.signed_in(site.world.manager)
    subject = register_person(manager, **person, customer_number="JC-5150")
    other = site.signed_in(site.world.other_manager)
    assert other.get(f"/web/persons/{subject}").status == 404
    found_before = len(audit_events(site.container.engine, "subject.found"))

    found = register_person(other, **person)

    assert found == subject
    events = audit_events(site.container.engine, "subject.found")[found_before:]
    assert [e.subject_id for e in events] == [subject]
    assert '"new_to_organisation":true' in events[0].event
    page = other.get(f"/web/persons/{found}")
    assert page.status == 200
    assert "JC-5150" not in page.main_text()
    assert "JC-5150" in manager.get(f"/web/persons/{subject}").main_text()


def test_a_conflicting_customer_number_is_not_merged_on_the_form(site: Site, case: Case) -> None:
    """The municipality registered the case's person with another number: it is told."""
    manager = site.signed_in(site.world.manager)
    before = site.state()
    page = manager.submit(
        manager.get("/web/persons"),
        "/web/persons",
        given_name=case.person["given_name"],
        family_name=case.person["family_name"],
        birth_date=case.person["birth_date"],
        customer_number="OTHER-123",
    )
    assert page.status == 400
    assert list(page.errors()) == ["f-customer_number"]
    assert changed_tables(before, site.state()) == []
