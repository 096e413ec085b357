"""Capturing a consent with the person, its page and receipt, and revoking it on their behalf."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.consents.models import ConsentStatus, StatusReason
from gateway.web.labels import STATUS_LABELS
from tests.web.conftest import Case, Site
from tests.web.pages import (
    CODE,
    PNG_1X1,
    changed_tables,
    confirmation_path,
    consent_review,
    event_about,
    linked_consent_id,
    record_consent,
    recorded_consent_id,
    register_person,
)

PNG = base64.b64decode(PNG_1X1.split(",", 1)[1])
TODAY = datetime.now(ZoneInfo("Europe/Berlin")).date()  # the day of the people using the pages


@pytest.fixture(scope="module")
def subject(site: Site) -> str:
    """A person of the first municipality for the consents of this module."""
    return register_person(
        site.signed_in(site.world.manager),
        given_name="Oksana",
        family_name="Melnyk",
        birth_date="1985-04-12",
    )


def test_the_terms_form_suggests_the_responsible_jobcenter(site: Site, subject: str) -> None:
    page = site.signed_in(site.world.manager).get(f"/web/persons/{subject}/consents/new")
    assert page.status == 200
    # policies/routing.yaml: Brackenheim (08125013) is served by JC-08125.
    assert page.value("jobcenter_id") == site.world.jobcenter
    assert page.value("directions") == ["municipality_asks_jobcenter"]
    assert page.value("language") == "de"
    assert page.value("channel") == ["screen_signature"]
    assert page.value("valid_until") == (TODAY + timedelta(days=365)).isoformat()


def test_a_consent_signed_on_paper_in_the_persons_language(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    review = consent_review(manager, subject, language="tr")
    assert review.status == 200
    texts = review.doc.find_all("section", class_="consent-text")
    assert [(t.attrs["lang"], t.attrs["dir"]) for t in texts] == [("tr", "ltr"), ("de", "ltr")]
    shown = review.form_data(f"/web/persons/{subject}/consents")
    assert shown["purposes"] == "benefit_coordination"
    assert shown["language"] == "tr"

    recorded = manager.submit(review, f"/web/persons/{subject}/consents", agreed="yes")

    consent_id = recorded_consent_id(recorded)
    assert site.consent_status(consent_id) == "active"
    event = event_about(site.container.engine, "consent.granted", consent_id)
    assert event["details"]["channel"] == "paper_signature"
    assert event["details"]["language"] == "tr"
    assert event["hashes"]["text"] == f"sha256:{shown['text_sha256']}"  # the text shown

    detail = manager.get(recorded.location)
    assert detail.status == 200
    assert "The consent is recorded." in detail.main_text()
    assert "No signature was drawn on screen for this consent." in detail.main_text()
    assert "The receipt's signature verifies" in detail.main_text()
    assert detail.doc.find("a", href=f"/web/consents/{consent_id}/revoke") is not None

    receipt = manager.get(f"/web/consents/{consent_id}/receipt")
    assert receipt.status == 200
    # The person's self-service code is printed on it.
    assert set(CODE.findall(receipt.html)) == {site.self_service_code(consent_id)}
    csp = receipt.response.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp  # the receipt's own print styles
    assert "script-src 'self';" in csp
    assert receipt.response.headers["referrer-policy"] == "no-referrer"


def test_a_signature_drawn_on_screen_is_kept_and_checked(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    recorded = record_consent(
        manager,
        subject,
        channel="screen_signature",
        evidence={"signature": PNG_1X1, "agreed": "yes"},
    )
    consent_id = recorded_consent_id(recorded)

    detail = manager.get(recorded.location)
    assert "The person's signature matches the SHA-256 recorded with the consent." in (
        detail.main_text()
    )
    image = manager.get(f"/web/consents/{consent_id}/signature")
    assert image.status == 200
    assert image.response.headers["content-type"] == "image/png"
    assert image.response.content == PNG
    event = event_about(site.container.engine, "consent.granted", consent_id)
    assert event["hashes"]["attachment"] == "sha256:" + hashlib.sha256(PNG).hexdigest()
    assert PNG_1X1.split(",", 1)[1] not in json.dumps(event)  # the hash, never the image


def test_a_consent_on_the_persons_own_phone_waits_for_them(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    shown = record_consent(manager, subject, channel="own_phone", evidence={})
    path = confirmation_path(shown)
    consent_id = linked_consent_id(shown)
    assert site.consent_status(consent_id) == ConsentStatus.PENDING.value
    assert shown.doc.find(role="img") is not None  # the QR code of the link
    assert event_about(site.container.engine, "consent.requested", consent_id)
    assert site.browser().get(path).status == 200  # the person opens it on their phone


def _terms(**changes: str | Sequence[str]) -> dict[str, str | Sequence[str]]:
    return {
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "channel": "paper_signature",
        **changes,
    }


YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
FAR = (TODAY + timedelta(days=800)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"purposes": []}, "purposes", "Please choose at least one."),
        (
            {"categories": ["measures"]},
            "categories",
            "These data do not belong to the chosen purposes.",
        ),
        (
            {"purposes": ["measures_and_courses"], "categories": ["measures", "health"]},
            "explicit",
            "Health data need the person's explicit, separate consent.",
        ),
        ({"valid_until": YESTERDAY}, "valid_until", "The date lies in the past."),
        ({"valid_until": FAR}, "valid_until", "A consent may last at most 730 days."),
        ({"valid_until": "morgen"}, "valid_until", "Please enter a date as YYYY-MM-DD."),
        ({"language": "xx"}, "language", "Please choose one of the offered options."),
        ({"directions": []}, "directions", "Please choose at least one."),
        (
            {"interpreter_name": "Herr Karimi"},
            "interpreter_language",
            "Give the interpreter's name and language, or neither.",
        ),
        ({"channel": "telepathy"}, "channel", "Please choose one of the offered options."),
        (
            {"representative_name": "Frau Kaya"},
            "representative_relation",
            "Give the representative's name and relation, or neither.",
        ),
        (
            {"representative_name": "Frau Kaya", "representative_relation": "neighbour"},
            "representative_relation",
            "Please choose one of the offered options.",
        ),
    ],
)
def test_the_terms_form_names_the_wrong_field_and_keeps_the_choices(
    site: Site,
    subject: str,
    changes: dict[str, str | Sequence[str]],
    field: str,
    message: str,
) -> None:
    manager = site.signed_in(site.world.manager)
    before = site.state()

    page = consent_review(manager, subject, **_terms(**changes))

    assert page.status == 400
    assert page.field_error(field) == message
    assert list(page.errors()) == [f"f-{field}"]
    for name, typed in _terms(**changes).items():
        assert page.shows_again(name, typed), (name, page.value(name))
    assert changed_tables(before, site.state()) == []


def test_a_child_under_15_consents_through_a_legal_representative(site: Site) -> None:
    manager = site.signed_in(site.world.manager)
    child = register_person(
        manager,
        given_name="Elif",
        family_name="Kaya",
        birth_date=TODAY.replace(year=TODAY.year - 10, day=min(TODAY.day, 28)).isoformat(),
    )
    before = site.state()
    refused = record_consent(manager, child)
    assert refused.status == 400
    assert refused.field_error("representative_name") == (
        "The person is under 15: the legal representative gives the consent. "
        "Please name them and their relation to the person."
    )
    assert changed_tables(before, site.state()) == []

    recorded = record_consent(
        manager, child, representative_name="Samira Kaya", representative_relation="parent"
    )
    consent_id = recorded_consent_id(recorded)
    detail = manager.get(recorded.location).main_text()
    assert "Given by" in detail
    assert "the legal representative (Parent)" in detail
    assert "Samira" not in detail  # the name stays in the sealed evidence
    event = event_about(site.container.engine, "consent.granted", consent_id)
    assert event["details"]["given_by"] == {"role": "legal_representative", "relation": "parent"}


def test_a_jobcenter_that_is_not_offered_is_refused(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    before = site.state()
    page = consent_review(manager, subject, jobcenter_id=site.world.other_municipality)
    assert page.status == 400
    assert page.field_error("jobcenter_id") == "Please choose one of the offered options."
    assert changed_tables(before, site.state()) == []


@pytest.mark.parametrize(
    ("channel", "evidence", "field", "message"),
    [
        (
            "paper_signature",
            {},
            "agreed",
            "Please confirm that the person agreed to this text.",
        ),
        (
            "screen_signature",
            {"agreed": "yes"},
            "signature",
            "Please let the person sign in the field.",
        ),
        (
            "screen_signature",
            {"agreed": "yes", "signature": "data:image/png;base64,bm90IGEgcG5n"},
            "signature",
            "The signature could not be read. Please sign again.",
        ),
    ],
)
def test_the_evidence_form_names_what_is_missing(
    site: Site, subject: str, channel: str, evidence: dict[str, str], field: str, message: str
) -> None:
    manager = site.signed_in(site.world.manager)
    review = consent_review(manager, subject, channel=channel)
    sent = {**review.form_data(f"/web/persons/{subject}/consents"), **evidence}
    before = site.state()

    page = manager.post(f"/web/persons/{subject}/consents", sent)

    assert page.status == 400
    assert page.field_error(field) == message
    # The review page again, with the same terms and the text hash that was shown.
    again = page.form_data(f"/web/persons/{subject}/consents")
    for name in ("purposes", "categories", "jobcenter_id", "valid_until", "text_sha256"):
        assert again[name] == sent[name]
    assert changed_tables(before, site.state()) == []


def test_a_consent_text_that_changed_is_not_recorded(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    review = consent_review(manager, subject)
    before = site.state()

    page = manager.submit(
        review, f"/web/persons/{subject}/consents", agreed="yes", text_sha256="0" * 64
    )

    assert page.status == 409
    alert = page.doc.find(role="alert")
    assert alert is not None
    assert "The text has changed meanwhile. Please show it again." in alert.text()
    assert changed_tables(before, site.state()) == []

    missing = manager.submit(
        review, f"/web/persons/{subject}/consents", agreed="yes", text_sha256=""
    )
    assert missing.status == 400
    assert "The text shown is missing. Please show the text again." in missing.main_text()
    assert changed_tables(before, site.state()) == []


def test_revoking_on_the_persons_behalf(site: Site, subject: str) -> None:
    manager = site.signed_in(site.world.manager)
    consent_id = recorded_consent_id(record_consent(manager, subject))
    form = manager.get(f"/web/consents/{consent_id}/revoke")
    assert form.status == 200
    before = site.state()

    incomplete = manager.submit(
        form, f"/web/consents/{consent_id}/revoke", reason="moved to another city"
    )

    assert incomplete.status == 400
    assert incomplete.field_error("channel") == "Please choose one."
    assert incomplete.value("reason") == "moved to another city"
    assert changed_tables(before, site.state()) == []

    done = manager.submit(incomplete, f"/web/consents/{consent_id}/revoke", channel="phone")

    assert done.status == 303
    assert done.location == f"/web/consents/{consent_id}?revoked=true"
    # The person told the municipality: the service calls that a withdrawal.
    assert site.consent_status(consent_id) == ConsentStatus.WITHDRAWN.value
    event = event_about(site.container.engine, "consent.revoked", consent_id)
    assert event["details"] == {
        "channel": "integration_manager",
        "declared_via": "phone",
        "status": ConsentStatus.WITHDRAWN.value,
        "status_reason": StatusReason.WITHDRAWN_BY_PERSON.value,
    }
    assert "moved to another city" not in json.dumps(event)  # only its hash
    assert event["hashes"]["reason"].startswith("sha256:")
    page = manager.get(done.location)
    assert "The consent is revoked." in page.main_text()
    assert page.doc.find("a", href=f"/web/consents/{consent_id}/revoke") is None

    again = manager.submit(form, f"/web/consents/{consent_id}/revoke", channel="phone")
    assert again.status == 409
    assert "The consent is already withdrawn." in again.main_text()


def test_jobcenter_staff_revoke_as_the_jobcenter(site: Site, subject: str) -> None:
    consent_id = recorded_consent_id(record_consent(site.signed_in(site.world.manager), subject))
    staff = site.signed_in(site.world.staff)
    form = staff.get(f"/web/consents/{consent_id}/revoke")
    done = staff.submit(form, f"/web/consents/{consent_id}/revoke", channel="in_person")
    assert done.status == 303
    assert site.consent_status(consent_id) == ConsentStatus.WITHDRAWN.value
    event = event_about(site.container.engine, "consent.revoked", consent_id)
    assert event["details"]["channel"] == "jobcenter"
    assert event["details"]["declared_via"] == "in_person"
    page = staff.get(done.location)
    assert STATUS_LABELS[ConsentStatus.WITHDRAWN.value] in page.main_text()


def test_data_protection_officers_read_consents_but_act_on_none(site: Site, case: Case) -> None:
    dpo = site.signed_in(site.world.dpo)
    page = dpo.get(f"/web/consents/{case.consent}")
    assert page.status == 200
    assert page.doc.find("a", href=f"/web/consents/{case.consent}/revoke") is None
    assert page.doc.find("a", href=f"/web/consents/{case.consent}/receipt") is None
    assert dpo.get(f"/web/consents/{case.consent}/revoke").status == 403
    # The receipt, as for the API: readable, but without the person's self-service code.
    receipt = dpo.get(f"/web/consents/{case.consent}/receipt")
    assert receipt.status == 200
    assert not CODE.findall(receipt.html)
    refused = dpo.post(
        f"/web/consents/{case.consent}/revoke",
        {"csrf_token": page.csrf_token("/web/signout"), "channel": "phone"},
    )
    assert refused.status == 403
    assert site.consent_status(case.consent) == "active"
