"""The data protection officer's pages: the events of their organisation, proofs, export."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from tests.web.conftest import Case, Site
from tests.web.pages import Page, changed_tables

AUDIT_PAGES = (
    "/web/audit",
    "/web/audit/verify",
    "/web/audit/anomalies",
    "/web/audit/export",
)


def _rows(page: Page) -> list[list[str]]:
    body = page.doc.find("tbody")
    if body is None:
        return []
    return [[cell.text() for cell in row.find_all("td")] for row in body.find_all("tr")]


def _export(page: Page) -> list[dict[str, object]]:
    assert page.status == 200
    assert page.response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(page.response.content)) as archive:
        lines = archive.read("events.jsonl").decode("utf-8").splitlines()
        assert json.loads(archive.read("checkpoint.json"))["tree_size"] >= len(lines)
    return [json.loads(line) for line in lines]


def test_an_officer_sees_the_events_of_their_own_organisation(site: Site, case: Case) -> None:
    dpo = site.signed_in(site.world.dpo)
    page = dpo.get("/web/audit", consent=case.consent)

    assert page.status == 200
    assert "You see the events your organisation caused, and the gateway's own steps" in (
        page.main_text()
    )
    assert page.options("organisation") is None  # no choice of other organisations
    rows = _rows(page)
    assert rows
    # Its own events, and the gateway's own (shown without an organisation) about its consent.
    assert {row[3] for row in rows} == {"Stadt Brackenheim", "–"}
    assert "consent.granted" in {row[2] for row in rows}

    event = dpo.get(f"/web/audit/events/{case.consent_event}")
    assert event.status == 200
    assert case.consent in event.main_text()

    exported = _export(dpo.get("/web/audit/export"))
    assert exported
    actors = {item["event"]["actor"].get("organisation") for item in exported}  # type: ignore[index]
    assert actors <= {site.world.municipality, None}
    gateways_own = [
        item["event"]
        for item in exported
        if item["event"]["actor"] == {"kind": "gateway"}  # type: ignore[index]
    ]
    assert all(event["consent"] == case.consent for event in gateways_own)


def test_an_officer_of_another_municipality_sees_none_of_them(site: Site, case: Case) -> None:
    other = site.signed_in(site.world.other_dpo)
    for params in (
        {"consent": case.consent},
        {"subject": case.subject},
        {"organisation": site.world.municipality},
    ):
        page = other.get("/web/audit", **params)
        assert page.status == 200
        assert _rows(page) == []
        assert "No events match." in page.main_text()
    assert other.get(f"/web/audit/events/{case.consent_event}").status == 404
    exported = _export(other.get("/web/audit/export"))
    assert case.subject not in json.dumps(exported)
    assert case.consent not in json.dumps(exported)


def test_the_operators_officer_sees_the_whole_trail(site: Site, case: Case) -> None:
    operator = site.signed_in(site.world.operator_dpo)
    page = operator.get("/web/audit")
    assert "You see the whole trail of the gateway." in page.main_text()
    offered = page.options("organisation")
    assert offered is not None
    assert {site.world.municipality, site.world.other_municipality} <= set(offered)
    everything = _rows(operator.get("/web/audit", consent=case.consent))
    own = _rows(site.signed_in(site.world.dpo).get("/web/audit", consent=case.consent))
    # Also the gateway's own steps (routing, by no organisation) that no municipality caused.
    assert {row[3] for row in everything} == {"Stadt Brackenheim", "–"}
    # The municipality's officer sees those steps about its consent, too; the operator's
    # officer chooses among every organisation.
    assert {row[0] for row in own} == {row[0] for row in everything}
    assert operator.get(f"/web/audit/events/{case.consent_event}").status == 200


CHOOSE = "Please choose one of the offered options."
BEFORE = "The end lies before the start."
BACKWARDS = {"since": "2026-05-02", "until": "2026-05-01"}


@pytest.mark.parametrize(
    ("url", "query", "field", "message"),
    [
        ("/web/audit", {"decision": "maybe"}, "decision", CHOOSE),
        ("/web/audit", BACKWARDS, "until", BEFORE),
        ("/web/audit", {"since": "gestern"}, "since", "Please enter a date as YYYY-MM-DD."),
        ("/web/audit/anomalies", BACKWARDS, "until", BEFORE),
    ],
)
def test_filters_name_the_wrong_field_and_keep_the_entries(
    site: Site, url: str, query: dict[str, str], field: str, message: str
) -> None:
    dpo = site.signed_in(site.world.dpo)
    before = site.state()
    page = dpo.get(url, **query)
    assert page.status == 400
    assert page.field_error(field) == message
    for name, typed in query.items():
        assert page.shows_again(name, typed), name
    assert _rows(page) == []
    assert changed_tables(before, site.state()) == []


def test_verification_and_proofs(site: Site, case: Case) -> None:
    dpo = site.signed_in(site.world.dpo)
    verify = dpo.get("/web/audit/verify")
    assert verify.status == 200
    # The verification runs in the background; the page shows its result once finished.
    assert dpo.submit(verify, "/web/audit/verify").status == 303
    deadline = time.monotonic() + 30
    while "A verification is running." in verify.main_text() or "Finished at" not in (
        verify.main_text()
    ):
        assert time.monotonic() < deadline, verify.main_text()
        time.sleep(0.05)
        verify = dpo.get("/web/audit/verify")
    assert "The audit trail is intact." in verify.main_text()
    signed = dpo.submit(verify, "/web/audit/checkpoint", seq=str(case.consent_event))
    assert signed.status == 303
    assert signed.location == f"/web/audit/events/{case.consent_event}"
    event = dpo.get(signed.location).main_text()
    assert "verified" in event


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_only_officers_open_the_audit_pages(site: Site, case: Case, role: str) -> None:
    """``viewer.require``: another role gets 403, the same for every page and event."""
    browser = site.signed_in(getattr(site.world, role))
    for url in (*AUDIT_PAGES, f"/web/audit/events/{case.consent_event}", "/web/audit/events/1"):
        page = browser.get(url)
        assert page.status == 403, url
        assert "You may not open this page." in page.main_text()
    token = browser.token_for("/web/queries", "/web/signout")
    before = site.state()
    assert browser.post("/web/audit/checkpoint", {"csrf_token": token}).status == 403
    assert changed_tables(before, site.state()) == []
