"""Questions on the pages: ask from the catalogue, the inbox, answer, read, withdraw."""

from __future__ import annotations

import pytest

from gateway.web.labels import STATUS_LABELS
from tests.web.conftest import Case, Site
from tests.web.pages import (
    Page,
    ask_question,
    asked_query_id,
    audit_events,
    changed_tables,
    record_consent,
    recorded_consent_id,
    register_person,
)

ANSWER = "/web/queries/{}/answer"


def _status(page: Page) -> str:
    """The status shown first on a question's page."""
    values = page.doc.find_all("dd", class_="kern-description-list-item__value")
    assert values, page.html
    return values[0].text()


def _events(site: Site, event_type: str, query_id: str) -> int:
    return sum(
        1 for row in audit_events(site.container.engine, event_type) if f'"{query_id}"' in row.event
    )


def test_ask_answer_in_the_inbox_and_read_the_answer(site: Site, case: Case) -> None:
    manager = site.signed_in(site.world.manager)
    staff = site.signed_in(site.world.staff)
    form = manager.get(f"/web/persons/{case.subject}/queries/new")
    offered = form.options("question")
    # The consent covers benefit coordination, asked by the municipality; nothing else,
    # but the question a statute allows about a person the municipality registered.
    assert offered == ["", "benefit_status", "jobcenter_responsibility", "assigned_contact"]

    query_id = asked_query_id(ask_question(manager, case.subject, "benefit_status"))

    asked = manager.get(f"/web/queries/{query_id}")
    assert _status(asked) == STATUS_LABELS["routed"]
    assert asked.doc.find("form", action=f"/web/queries/{query_id}/cancel") is not None
    assert asked.doc.find("form", action=ANSWER.format(query_id)) is None  # not the answerer

    inbox = staff.get("/web/inbox")
    assert inbox.doc.find("a", href=f"/web/queries/{query_id}") is not None
    assert "receipt verified" in inbox.main_text()

    question = staff.get(f"/web/queries/{query_id}")
    assert question.status == 200
    person = question.main_text()
    assert case.person["family_name"] in person
    assert case.person["customer_number"] in person
    assert question.options("answer.receives_benefit") == ["", "true", "false"]
    before = site.state()

    missing = staff.submit(question, ANSWER.format(query_id), **{"answer.remarks": "Akte folgt"})

    assert missing.status == 400
    assert missing.field_error("answer.receives_benefit") == "Please fill in this field."
    assert missing.value("answer.remarks") == "Akte folgt"
    assert changed_tables(before, site.state()) == []

    wrong = staff.submit(
        missing,
        ANSWER.format(query_id),
        **{"answer.receives_benefit": "true", "answer.approved_until": "31.03.2027"},
    )

    assert wrong.status == 400
    assert wrong.field_error("answer.approved_until") == "Please enter a date as YYYY-MM-DD."
    assert wrong.value("answer.approved_until") == "31.03.2027"
    assert wrong.value("answer.receives_benefit") == "true"
    assert wrong.value("answer.remarks") == "Akte folgt"
    assert changed_tables(before, site.state()) == []

    done = staff.submit(wrong, ANSWER.format(query_id), **{"answer.approved_until": "2027-03-31"})

    assert done.status == 303
    assert done.location == f"/web/queries/{query_id}?answered=true"
    assert _events(site, "query.answered", query_id) == 1
    assert staff.get("/web/inbox").doc.find("a", href=f"/web/queries/{query_id}") is None

    answer = manager.get(f"/web/queries/{query_id}")
    assert _status(answer) == STATUS_LABELS["answered"]
    text = answer.main_text()
    assert "Akte folgt" in text
    assert "Yes" in text
    assert _events(site, "query.delivered", query_id) == 1  # reading is the delivery
    manager.get(f"/web/queries/{query_id}")
    assert _events(site, "query.delivered", query_id) == 1  # once

    history = manager.get("/web/queries", status="answered")
    assert history.doc.find("a", href=f"/web/queries/{query_id}") is not None
    assert (
        manager.get("/web/queries", status="routed").doc.find("a", href=f"/web/queries/{query_id}")
        is None
    )


def test_a_question_the_consent_does_not_cover_is_not_sent(site: Site, case: Case) -> None:
    manager = site.signed_in(site.world.manager)
    form = manager.get(f"/web/persons/{case.subject}/queries/new")
    before = site.state()

    page = manager.post(
        f"/web/persons/{case.subject}/queries",
        {"csrf_token": form.csrf_token("/web/signout"), "question": "wage_subsidy_coordination"},
    )

    assert page.status == 400
    assert page.field_error("question") == "Please choose one of the offered options."
    assert changed_tables(before, site.state()) == []


@pytest.fixture(scope="module")
def job_offer_case(site: Site) -> str:
    """A person whose consent covers the wage subsidy question (with parameters)."""
    manager = site.signed_in(site.world.manager)
    subject = register_person(
        manager, given_name="Tesfaye", family_name="Bekele", birth_date="1992-08-08"
    )
    recorded_consent_id(
        record_consent(
            manager,
            subject,
            purposes=["wage_subsidy"],
            categories=["job_offer", "wage_subsidy"],
        )
    )
    return subject


def test_the_details_of_a_question_are_checked_field_by_field(
    site: Site, job_offer_case: str
) -> None:
    manager = site.signed_in(site.world.manager)
    form = manager.get(
        f"/web/persons/{job_offer_case}/queries/new", question="wage_subsidy_coordination"
    )
    assert form.status == 200
    action = f"/web/persons/{job_offer_case}/queries"
    entries = {
        "parameters.employer_name": "Bäckerei Maier",
        "parameters.employer_postal_code": "7433",
        "parameters.position_title": "Bäcker",
        "parameters.starts_on": "2027-01-15",
        "parameters.weekly_hours": "60",
    }
    before = site.state()

    page = manager.submit(form, action, **entries)

    assert page.status == 400
    assert page.field_error("parameters.weekly_hours") == "At most 48."
    assert page.field_error("parameters.employer_postal_code") == "The format is not valid."
    for name, typed in entries.items():
        assert page.value(name) == typed
    assert changed_tables(before, site.state()) == []

    corrected = {"parameters.weekly_hours": "38,5", "parameters.employer_postal_code": "74336"}
    query_id = asked_query_id(manager.submit(page, action, **corrected))
    # The same form sent twice (a double click) asks once: its key is the Idempotency-Key.
    assert asked_query_id(manager.submit(page, action, **corrected)) == query_id
    assert _events(site, "query.asked", query_id) == 1

    seen = site.signed_in(site.world.staff).get(f"/web/queries/{query_id}")
    assert "Bäckerei Maier" in seen.main_text()
    assert "38.5" in seen.main_text()


def test_withdrawing_a_question(site: Site, case: Case) -> None:
    manager = site.signed_in(site.world.manager)
    query_id = asked_query_id(ask_question(manager, case.subject, "assigned_contact"))
    page = manager.get(f"/web/queries/{query_id}")

    done = manager.submit(page, f"/web/queries/{query_id}/cancel")

    assert done.status == 303
    assert _status(manager.get(done.location)) == STATUS_LABELS["cancelled"]
    inbox = site.signed_in(site.world.staff).get("/web/inbox")
    assert inbox.doc.find("a", href=f"/web/queries/{query_id}") is None
    assert (
        manager.get(done.location).doc.find("form", action=f"/web/queries/{query_id}/cancel")
        is None
    )


def test_the_municipality_answers_the_jobcenter_with_rows(site: Site, case: Case) -> None:
    staff = site.signed_in(site.world.staff)
    manager = site.signed_in(site.world.manager)
    query_id = asked_query_id(ask_question(staff, case.subject, "integration_plan_goals"))
    # The integration manager's inbox holds what the jobcenter asks the municipality.
    inbox = manager.get("/web/inbox")
    assert inbox.status == 200
    assert inbox.doc.find("a", href=f"/web/queries/{query_id}") is not None
    assert staff.get("/web/inbox").doc.find("a", href=f"/web/queries/{query_id}") is None

    question = manager.get(f"/web/queries/{query_id}")
    action = ANSWER.format(query_id)
    first_row = {"answer.goals.0.goal": "B1-Zertifikat", "answer.goals.0.status": "in_progress"}
    before = site.state()

    more = manager.submit(question, action, _add_row="answer.goals", **first_row)

    assert more.status == 200
    assert more.value("answer.goals.__rows") == "2"
    assert more.value("answer.goals.0.goal") == "B1-Zertifikat"
    assert more.value("answer.goals.1.goal") == ""
    assert more.errors() == {}
    assert changed_tables(before, site.state()) == []

    incomplete = manager.submit(more, action, **{"answer.goals.1.goal": "Führerschein"})

    assert incomplete.status == 400
    assert incomplete.field_error("answer.goals.1.status") == "Please fill in this field."
    assert incomplete.value("answer.goals.1.goal") == "Führerschein"
    assert changed_tables(before, site.state()) == []

    done = manager.submit(incomplete, action, **{"answer.goals.1.status": "open"})

    assert done.status == 303
    read = staff.get(f"/web/queries/{query_id}")
    assert "Führerschein" in read.main_text()
    assert "B1-Zertifikat" in read.main_text()
