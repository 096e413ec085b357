"""One whole story in a real browser, the way the three user groups and the person live it.

The integration manager registers a person, records a consent signed on
screen, prints the receipt and asks the jobcenter; the jobcenter's staff
member answers from the inbox; the manager reads the answer; the person opens
the self-service page with the code from the receipt, sees the access and
withdraws; the data protection officer finds all of it in the audit explorer
and the chain verifies. axe-core checks every page on the way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web.browser import (
    AXE,
    CHROMIUM,
    GATEWAY,
    LiveGateway,
    PageChecks,
    launch,
    live_gateway,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not AXE.exists(),
    reason="needs Debian's chromium and axe-core from npm (make test installs both)",
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("story")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def sign_in(browser: Browser, gateway: LiveGateway, role: str, checks: PageChecks) -> Page:
    context = browser.new_context(locale="de-DE", base_url=gateway.base_url, bypass_csp=True)
    page = context.new_page()
    page.goto("/web")
    expect(page).to_have_url(re.compile(r"/web/signin"))
    checks.check(page, f"sign-in {role}")
    page.fill("#f-email", gateway.email(role))
    page.fill("#f-password", gateway.password(role))
    page.locator("form[action='/web/signin'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/web/signin"))
    return page


def draw_signature(page: Page) -> None:
    pad = page.locator("#signature-pad")
    expect(pad).to_be_visible()
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 120)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 40 + step * 30, box["y"] + 120 - (step % 3) * 25)
    page.mouse.up()
    expect(page.locator("#signature-data")).to_have_value(re.compile(r"^data:image/png;base64,"))


def test_the_whole_story(browser: Browser, gateway: LiveGateway, tmp_path: Path) -> None:
    checks = PageChecks()
    valid_until = (date.today() + timedelta(days=180)).isoformat()

    # The integration manager registers the person and records the consent with them.
    manager = sign_in(browser, gateway, "integration_manager", checks)
    expect(manager).to_have_url(re.compile(r"/web/persons$"))
    checks.check(manager, "persons")
    manager.fill("#f-given_name", "Olena")
    manager.fill("#f-family_name", "Beispielenko")
    manager.fill("#f-birth_date", "1985-11-03")
    manager.locator("form[action='/web/persons'] button[type=submit]").click()
    expect(manager.locator("h1")).to_have_text("Beispielenko, Olena")
    checks.check(manager, "person")
    person_url = manager.url

    manager.locator("a[href$='/consents/new']").click()
    checks.check(manager, "consent terms")
    manager.check("input[name=purposes][value=benefit_coordination]")
    manager.check("input[name=categories][value=benefit_status]")
    jobcenter = gateway.demo["organisations"]["JC-08125"]["id"]
    manager.select_option("#f-jobcenter_id", jobcenter)
    manager.check("input[name=directions][value=municipality_asks_jobcenter]")
    manager.fill("#f-valid_until", valid_until)
    manager.select_option("#f-language", "uk")
    manager.check("input[name=channel][value=screen_signature]")
    manager.locator("form[action$='/consents/new'] button[type=submit]").click()

    expect(manager.locator("section.consent-text[lang=uk]")).to_be_visible()
    expect(manager.locator("section.consent-text[lang=de]")).to_be_visible()
    checks.check(manager, "consent text and signature")
    draw_signature(manager)
    manager.check("#f-agreed")
    manager.locator("#record-form button[type=submit]:not([name=_back])").click()
    expect(manager).to_have_url(re.compile(r"/web/consents/[^/]+"))
    checks.check(manager, "consent recorded")
    consent_url = manager.url.split("?")[0]

    receipt = manager.context.new_page()
    receipt.goto(consent_url + "/receipt")
    code = receipt.locator("p.code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}", code), code
    checks.check(receipt, "receipt")
    receipt.close()

    # ... and asks the jobcenter whether the person receives citizen's benefit.
    manager.goto(person_url)
    manager.locator("a[href$='/queries/new']").click()
    manager.select_option("#f-question", "benefit_status")
    manager.locator("form[action$='/queries/new'] button[type=submit]").click()
    checks.check(manager, "ask")
    manager.locator("form[action$='/queries'] button[type=submit]").click()
    expect(manager).to_have_url(re.compile(r"/web/queries/[^/]+"))
    checks.check(manager, "question sent")
    query_url = manager.url.split("?")[0]
    query_id = query_url.rsplit("/", 1)[-1]

    # The jobcenter's staff member answers from the inbox.
    staff = sign_in(browser, gateway, "jobcenter_staff", checks)
    expect(staff).to_have_url(re.compile(r"/web/inbox"))
    checks.check(staff, "inbox")
    staff.locator(f"a[href='/web/queries/{query_id}']").click()
    checks.check(staff, "answer form")
    staff.select_option("select[name='answer.receives_benefit']", "true")
    staff.fill("[name='answer.approved_until']", valid_until)
    staff.locator(f"form[action='/web/queries/{query_id}/answer'] button[type=submit]").click()
    expect(staff.locator("main")).to_contain_text(re.compile("beantwortet|answered"))
    checks.check(staff, "answered")

    # The manager reads the answer.
    manager.goto(query_url)
    expect(manager.locator("main")).to_contain_text(re.compile("beantwortet|answered"))
    checks.check(manager, "answer read")

    # The pages the story passes by, checked all the same.
    manager.goto("/web/queries")
    checks.check(manager, "questions and answers")
    manager.goto(consent_url + "/revoke")
    checks.check(manager, "revoke on the person's behalf")
    staff.goto("/web/queries")
    checks.check(staff, "answered questions")
    staff.goto("/about")
    checks.check(staff, "about")
    staff.goto("/web/queries/qry_000000000000000000000000")
    checks.check(staff, "not found")
    stranger = browser.new_context(locale="en-GB", base_url=gateway.base_url, bypass_csp=True)
    wrong = stranger.new_page()
    wrong.goto("/web/signin")
    wrong.fill("#f-email", gateway.email("dpo"))
    wrong.fill("#f-password", "not the password at all")
    wrong.locator("form[action='/web/signin'] button[type=submit]").click()
    expect(wrong.locator("main")).to_contain_text(re.compile("not match|incorrect|wrong", re.I))
    checks.check(wrong, "sign-in refused")
    stranger.close()

    # The person opens the self-service page in their language, sees the access, withdraws.
    person = browser.new_context(
        locale="uk-UA", base_url=gateway.base_url, bypass_csp=True
    ).new_page()
    person.goto("/self-service")
    checks.check(person, "self-service code")
    person.fill("#f-code", code)
    person.locator("form[action^='/self-service'] button[type=submit]").click()
    expect(person.locator("html")).to_have_attribute("lang", "uk")
    expect(person.locator("main")).to_contain_text("Jobcenter Landkreis Heilbronn")
    checks.check(person, "self-service overview")
    person.locator("a[href*='/revoke']").click()
    checks.check(person, "self-service withdraw")
    person.locator("form[action*='/revoke'] button[type=submit]").click()
    checks.check(person, "self-service withdrawn")

    manager.goto(consent_url)
    expect(manager.locator("h1")).to_contain_text(
        re.compile("[Ww]iderrufen|[Ww]ithdrawn|[Zz]urückgezogen")
    )

    # The data protection officer sees all of it, and the chain verifies.
    dpo = sign_in(browser, gateway, "dpo", checks)
    expect(dpo).to_have_url(re.compile(r"/web/audit"))
    checks.check(dpo, "audit explorer")
    events = dpo.locator("main table tbody tr")
    assert events.count() > 0
    body = dpo.locator("main").inner_text()
    # A municipality's officer sees what their own organisation did.
    for event_type in ("signin.succeeded", "consent.granted", "query.asked"):
        assert event_type in body, event_type
    assert "Beispielenko" not in body  # pseudonyms only, never names
    events.first.locator("a").first.click()
    checks.check(dpo, "audit event")
    dpo.goto("/web/audit/verify")
    # The verification runs in the background: start it, then reload until its result shows.
    dpo.locator("main form[action='/web/audit/verify'] button").click()
    for _ in range(40):
        if re.search("unversehrt|intact", dpo.locator("main").inner_text()):
            break
        dpo.wait_for_timeout(250)
        dpo.goto("/web/audit/verify")
    expect(dpo.locator("main")).to_contain_text(re.compile("unversehrt|intact"))
    checks.check(dpo, "audit verify")
    dpo.goto("/web/audit/anomalies")
    checks.check(dpo, "audit anomalies")

    # Operators count what happened without learning about whom.
    metrics = httpx.get(f"{gateway.base_url}/metrics").text
    assert (
        'gateway_policy_decisions_total{action="ask",decision="permit",reason="none"} 1.0'
        in metrics
    )
    assert "Beispielenko" not in metrics
    month = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m")  # the figures' time zone
    figures = json.loads(
        subprocess.run(
            [GATEWAY, "figures", "--year", month[:4], "--format", "json"],
            env={**os.environ, "GATEWAY_DATA_DIR": str(gateway.data_dir)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    brackenheim = next(o for o in figures["organisations"] if o["name"] == "Stadt Brackenheim")
    this_month = next(m for m in brackenheim["months"] if m["month"] == month)
    # One person: the cells are there, suppressed below five persons.
    assert this_month["consents"]["given"] == "<5"
    assert this_month["queries"]["asked"] == "<5"

    assert not checks.violations, "\n".join(checks.violations)
    assert checks.count >= 28
